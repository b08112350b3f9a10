"""What one touchpoint event tells the recommender, as plain facts keyed by the customer.

The customer ("subject") of an event is the hash of its strongest identifier — the same rule
as the Kafka message key — because events carry identifiers, not profile ids. The profile
service later tells us which subjects belong to which profile (see `changes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rapport_events import properties as p
from rapport_events.envelope import TouchpointEvent
from rapport_events.identity import identifier_hash


class Touch(StrEnum):
    """What a customer did with an item."""

    BOUGHT = "bought"
    VIEWED = "viewed"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class Outcome(StrEnum):
    PRESENTED = "presented"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class ItemTouch:
    subject: str
    sku: str
    touch: Touch
    at: datetime
    name: str | None = None
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class Order:
    subject: str
    at: datetime
    skus: tuple[str, ...]
    country: str | None


@dataclass(frozen=True, slots=True)
class Cart:
    """The whole cart as the customer left it (cart_updated carries all of it)."""

    subject: str
    at: datetime
    skus: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Complaint:
    subject: str
    case_id: str
    at: datetime
    opened: bool  # False: resolved


@dataclass(frozen=True, slots=True)
class Consent:
    subject: str
    channel: str  # email, sms, phone, web, post or all
    granted: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class OfferFeedback:
    subject: str
    event_id: str
    kind: str
    channel: str
    outcome: Outcome
    at: datetime
    items: tuple[str, ...] = ()


@dataclass(slots=True)
class Facts:
    """Everything a batch of events says, grouped by what the store does with it."""

    touches: list[ItemTouch] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    carts: list[Cart] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    feedback: list[OfferFeedback] = field(default_factory=list)
    seen: dict[str, datetime] = field(default_factory=dict)  # subject → last event time
    countries: dict[str, str] = field(default_factory=dict)  # subject → last country seen

    def subjects(self) -> set[str]:
        return set(self.seen)


def subject_of(event: TouchpointEvent) -> str:
    kind, value = event.identity.strongest()
    return identifier_hash(kind, value)


def facts_of(events: list[TouchpointEvent]) -> Facts:
    """Pure: the facts of a batch, in stream order."""
    facts = Facts()
    for event in events:
        _add(facts, event)
    return facts


def _add(facts: Facts, event: TouchpointEvent) -> None:  # noqa: PLR0912 - one case per type
    subject = subject_of(event)
    at = event.effective_time
    facts.seen[subject] = max(at, facts.seen.get(subject, at))
    country = event.context.country.upper() if event.context.country else None
    if country:
        facts.countries[subject] = country
    props = event.properties
    if isinstance(props, p.OrderCompleted | p.StorePurchase):
        skus = []
        for item in props.items:
            facts.touches.append(
                ItemTouch(subject, item.sku, Touch.BOUGHT, at, item.name, item.quantity)
            )
            skus.append(item.sku)
        facts.orders.append(Order(subject, at, tuple(dict.fromkeys(skus)), country))
    elif isinstance(props, p.ProductViewed):
        facts.touches.append(ItemTouch(subject, props.sku, Touch.VIEWED, at, props.name))
    elif isinstance(props, p.CartUpdated):
        facts.carts.append(Cart(subject, at, tuple(dict.fromkeys(i.sku for i in props.items))))
    elif isinstance(props, p.ProductReturned):
        for item in props.items:
            facts.touches.append(
                ItemTouch(subject, item.sku, Touch.RETURNED, at, item.name, item.quantity)
            )
    elif isinstance(props, p.ComplaintLogged):
        facts.complaints.append(Complaint(subject, props.case_id, at, opened=True))
    elif isinstance(props, p.CaseResolved):
        facts.complaints.append(Complaint(subject, props.case_id, at, opened=False))
    elif isinstance(props, p.Unsubscribed):
        if props.purpose is p.ConsentPurpose.MARKETING:
            # An ESP unsubscribe is about the channel it came from: email.
            facts.consents.append(Consent(subject, "email", False, at))
    elif isinstance(props, p.ConsentUpdated):
        if props.purpose is p.ConsentPurpose.MARKETING:
            facts.consents.append(Consent(subject, props.channel.value, props.granted, at))
    elif isinstance(props, p.OfferPresented | p.OfferAccepted | p.OfferDeclined):
        outcome = {
            p.OfferPresented: Outcome.PRESENTED,
            p.OfferAccepted: Outcome.ACCEPTED,
            p.OfferDeclined: Outcome.DECLINED,
        }[type(props)]
        facts.feedback.append(
            OfferFeedback(
                subject,
                str(event.event_id),
                props.kind,
                props.channel,
                outcome,
                at,
                tuple(props.items),
            )
        )
        if outcome is not Outcome.PRESENTED:
            touch = Touch.ACCEPTED if outcome is Outcome.ACCEPTED else Touch.DECLINED
            facts.touches.extend(ItemTouch(subject, sku, touch, at) for sku in props.items)
