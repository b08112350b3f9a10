"""The event envelope of SPEC.md, one validated model per event type.

`TouchpointEvent` is a union discriminated by `type`: each member carries its own typed
`properties`, so a consumer can `match` on them and a sender gets an error naming the field.
What ingest publishes is the validated envelope plus `received_at` and the skew-corrected
`timestamp`; consumers decode exactly that, with the same models.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeAlias, TypeVar, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from rapport_events import properties as p
from rapport_events.identity import Identity


class Channel(StrEnum):
    WEB = "web"
    CALL_CENTER = "call_center"
    EMAIL = "email"
    STORE = "store"


class Context(BaseModel):
    """Where the event came from. `ip` is accepted but never stored in clear (see ingest)."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    source: str | None = Field(None, max_length=200, examples=["storefront"])
    store_id: str | None = Field(None, max_length=200, examples=["leeds-01"])
    agent_id: str | None = Field(None, max_length=200, examples=["agent-12"])
    campaign_id: str | None = Field(None, max_length=200)
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", examples=["GB"])
    region: str | None = Field(None, max_length=200)
    locale: str | None = Field(None, max_length=35, examples=["en-GB"])
    user_agent: str | None = Field(None, max_length=1000)
    ip: str | None = Field(None, max_length=64)


T = TypeVar("T", bound=str)
P = TypeVar("P", bound=BaseModel)


class Envelope(BaseModel, Generic[T, P]):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="chosen by the sender: the idempotency key; generated if absent",
    )
    type: T
    channel: Channel
    occurred_at: AwareDatetime = Field(description="RFC 3339 time on the sender's clock")
    sent_at: AwareDatetime | None = Field(
        None, description="RFC 3339 send time on the sender's clock, to correct its skew"
    )
    identity: Identity
    properties: P
    context: Context = Field(default_factory=Context)
    # Stamped by ingest; absent on what senders post.
    received_at: AwareDatetime | None = Field(None, description="set by ingest")
    timestamp: AwareDatetime | None = Field(
        None, description="set by ingest: occurred_at corrected for the sender's clock skew"
    )

    @property
    def effective_time(self) -> datetime:
        """When it happened, as best we know: the corrected time once ingest has stamped it."""
        return self.timestamp or self.occurred_at


PROPERTIES_BY_TYPE: dict[str, type[p.Properties]] = {
    # web
    "page_viewed": p.PageViewed,
    "product_viewed": p.ProductViewed,
    "cart_updated": p.CartUpdated,
    "order_completed": p.OrderCompleted,
    "signed_up": p.SignedUp,
    "logged_in": p.LoggedIn,
    # call center
    "call_started": p.CallStarted,
    "call_ended": p.CallEnded,
    "complaint_logged": p.ComplaintLogged,
    "case_resolved": p.CaseResolved,
    # email
    "email_sent": p.EmailSent,
    "email_opened": p.EmailOpened,
    "email_clicked": p.EmailClicked,
    "email_bounced": p.EmailBounced,
    "unsubscribed": p.Unsubscribed,
    # store
    "store_visited": p.StoreVisited,
    "store_purchase": p.StorePurchase,
    "product_returned": p.ProductReturned,
    # any channel
    "identify": p.Identify,
    "consent_updated": p.ConsentUpdated,
    "preference_stated": p.PreferenceStated,
    "feedback_given": p.FeedbackGiven,
    "offer_presented": p.OfferPresented,
    "offer_accepted": p.OfferAccepted,
    "offer_declined": p.OfferDeclined,
}
EVENT_TYPES: tuple[str, ...] = tuple(PROPERTIES_BY_TYPE)

# The types that change at once what a customer may be offered, and where: a complaint and its
# resolution, an unsubscribe, a consent. Ingest publishes a copy of each to the urgent topic
# too (`Topics.touchpoints_urgent`), so that what acts on them at once need not read the whole
# stream.
URGENT_TYPES = frozenset({"complaint_logged", "case_resolved", "unsubscribed", "consent_updated"})

# What every consumer handles: the type checker sees the common shape; at run time each event
# is an instance of its own `Envelope[Literal[type], Properties subclass]`.
TouchpointEvent: TypeAlias = Envelope[str, p.Properties]


def _event_model(name: str, props: type[p.Properties]) -> Any:
    """`order_completed` → class `OrderCompletedEvent(Envelope[Literal["order_completed"], ...])`.

    A named subclass, so that schemas and error messages say `OrderCompletedEvent`.
    """
    class_name = "".join(part.capitalize() for part in name.split("_")) + "Event"
    base = Envelope[Literal[name], props]  # type: ignore[valid-type]
    return type(class_name, (base,), {"__module__": __name__})


_EVENT_MODELS: list[Any] = [_event_model(name, props) for name, props in PROPERTIES_BY_TYPE.items()]
_ANY_EVENT: Any = Annotated[Union[tuple(_EVENT_MODELS)], Field(discriminator="type")]  # noqa: UP007
EVENT_ADAPTER: TypeAdapter[TouchpointEvent] = TypeAdapter(_ANY_EVENT)


def parse_event(data: Any, *, phone_region: str | None = None) -> TouchpointEvent:
    """Validate one envelope given as Python data; raises pydantic.ValidationError."""
    return EVENT_ADAPTER.validate_python(data, context={"phone_region": phone_region})


def now_utc() -> datetime:
    return datetime.now(UTC)


def corrected_time(
    occurred_at: datetime, sent_at: datetime | None, received_at: datetime
) -> datetime:
    """Correct the sender's clock skew: the sender's `sent_at` is our `received_at`.

    The network delay between send and receipt is small next to the skew of a badly set till
    clock, so the whole difference is taken as skew. A `sent_at` before `occurred_at` is a
    broken sender clock, not skew, and is ignored.
    """
    if sent_at is None or sent_at < occurred_at:
        return occurred_at
    return occurred_at + (received_at - sent_at)


__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "PROPERTIES_BY_TYPE",
    "URGENT_TYPES",
    "Channel",
    "Context",
    "Envelope",
    "TouchpointEvent",
    "corrected_time",
    "now_utc",
    "parse_event",
    "validation_problems",
]


def validation_problems(error: ValidationError) -> list[dict[str, str]]:
    """A pydantic error as `{"field": "properties.items.0.quantity", "reason": ...}` entries.

    The discriminator tag that pydantic puts first in each location is an implementation detail
    of the union; senders know fields, so it is dropped.
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        if loc and loc[0] in PROPERTIES_BY_TYPE:
            loc = loc[1:]
        if item["type"] == "union_tag_invalid":
            field, reason = "type", f"unknown event type; expected one of: {', '.join(EVENT_TYPES)}"
        elif item["type"] == "union_tag_not_found":
            field, reason = "type", "field required"
        else:
            field = ".".join(str(part) for part in loc) or "(body)"
            reason = item["msg"].removeprefix("Value error, ")
        problems.append({"field": field, "reason": reason})
    return problems
