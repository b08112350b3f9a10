"""What one touchpoint event tells the recommender, as plain facts keyed by the customer.

The customer ("subject") of an event is the hash of its strongest identifier — the same rule
as the Kafka message key — because events carry identifiers, not profile ids. The profile
service later tells us which subjects belong to which profile (see `changes`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from rapport_events import properties as p
from rapport_events.envelope import URGENT_TYPES, TouchpointEvent
from rapport_events.identity import identifier_hash


class Touch(StrEnum):
    """What a customer did with an item."""

    BOUGHT = "bought"
    VIEWED = "viewed"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    DECLINED = "declined"


_PAIRED = frozenset({Touch.BOUGHT, Touch.VIEWED})


class Priority(IntEnum):
    """How soon a change must reach the customer's offers (the re-ranker's order)."""

    IN_TURN = 0  # views, carts, visits: they only refine a ranking
    SOON = 1  # a purchase, a return, an answer to an offer: what not to offer next
    AT_ONCE = 2  # a complaint or a consent: what may be offered at all, and where


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

    def ranked_subjects(self) -> set[str]:
        """Subjects with a fact the ranking reads: an item touched, an order, a cart, a
        complaint, a consent, an answer to an offer."""
        found = {t.subject for t in self.touches} | {o.subject for o in self.orders}
        found |= {c.subject for c in self.carts} | {c.subject for c in self.complaints}
        found |= {c.subject for c in self.consents} | {f.subject for f in self.feedback}
        return found

    def sighted_only(self) -> set[str]:
        """Subjects the batch only saw (a visit, an email opened, a call started), with no
        country: the sighting moves their last-seen time and nothing else the ranking reads,
        unless they have no row yet (their first sighting) or a country on record (becoming a
        profile's latest sighting may make it the profile's country). Half of the bench's
        event mix; re-ranking each of those customers would only find the same offers."""
        return self.subjects() - self.ranked_subjects() - self.countries.keys()

    def priorities(self, live_since: datetime) -> dict[str, Priority]:
        """Subjects whose offers a rule must change before the re-ranker gets to them in turn,
        and how soon. At once: a complaint (service recovery first, sales pushes stop) or a
        consent (no offer on a withdrawn channel) that happened since `live_since`; one folded
        later (a backlog, a replay) is already late, and goes soon, without a lane of its own
        to swamp. Soon: an answer to an offer (the contact cap, a declined item) or a purchase
        or return (never offer what was just bought or returned). Views, carts and visits only
        refine a ranking: absent."""
        soon = {f.subject for f in self.feedback} | {o.subject for o in self.orders}
        soon |= {t.subject for t in self.touches if t.touch is Touch.RETURNED}
        found = dict.fromkeys(soon, Priority.SOON)
        rules = [(c.subject, c.at) for c in self.complaints]
        rules += [(c.subject, c.at) for c in self.consents]
        for subject, at in rules:
            live = at >= live_since
            if live or subject not in found:
                found[subject] = Priority.AT_ONCE if live else Priority.SOON
        return found

    def paired(self) -> set[tuple[str, str]]:
        """(subject, sku) of the purchases and views: the items co-occurrence counts."""
        return {(t.subject, t.sku) for t in self.touches if t.touch in _PAIRED}


def subject_of(event: TouchpointEvent) -> str:
    kind, value = event.identity.strongest()
    return identifier_hash(kind, value)


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """What the fold reads of a touchpoint event: a validated event (`touchpoint_of`) or one
    decoded leanly from the topic (`consumer.lean_touchpoint`). `properties` is the event's
    properties model, or an object with the same attributes for the kinds decoded leanly."""

    event_id: uuid.UUID
    type: str
    subject: str
    at: datetime
    country: str | None
    properties: Any


def touchpoint_of(event: TouchpointEvent | Touchpoint) -> Touchpoint:
    if isinstance(event, Touchpoint):
        return event
    country = event.context.country.upper() if event.context.country else None
    return Touchpoint(
        event.event_id,
        event.type,
        subject_of(event),
        event.effective_time,
        country,
        event.properties,
    )


def facts_of(events: Sequence[TouchpointEvent | Touchpoint]) -> Facts:
    """Pure: the facts of a batch, in stream order."""
    facts = Facts()
    for event in events:
        _add(facts, touchpoint_of(event))
    return facts


_BUYS = frozenset({"order_completed", "store_purchase"})
_FEEDBACK = {
    "offer_presented": Outcome.PRESENTED,
    "offer_accepted": Outcome.ACCEPTED,
    "offer_declined": Outcome.DECLINED,
}
# The types whose properties the fold reads (`_add`); of any other type it keeps only who,
# when and where (last seen, country).
READS_PROPERTIES = frozenset(
    {
        *_BUYS,
        "product_viewed",
        "cart_updated",
        "product_returned",
        "complaint_logged",
        "case_resolved",
        "unsubscribed",
        "consent_updated",
        *_FEEDBACK,
    }
)

# The types that change what may be offered at all, and where: complaints and consents
# (`Facts.priorities` ranks them at once while live). The express lane folds them ahead of
# the stream, from the urgent topic where ingest copies them.
RULE_TYPES = URGENT_TYPES


def _add(facts: Facts, event: Touchpoint) -> None:  # noqa: PLR0912 - one case per type
    subject = event.subject
    at = event.at
    held = facts.seen.get(subject)
    if held is None or at > held:
        facts.seen[subject] = at
    country = event.country
    if country:
        facts.countries[subject] = country
    props = event.properties
    kind = event.type
    if kind in _BUYS:
        skus = []
        for item in props.items:
            facts.touches.append(
                ItemTouch(subject, item.sku, Touch.BOUGHT, at, item.name, item.quantity)
            )
            skus.append(item.sku)
        facts.orders.append(Order(subject, at, tuple(dict.fromkeys(skus)), country))
    elif kind == "product_viewed":
        facts.touches.append(ItemTouch(subject, props.sku, Touch.VIEWED, at, props.name))
    elif kind == "cart_updated":
        facts.carts.append(Cart(subject, at, tuple(dict.fromkeys(i.sku for i in props.items))))
    elif kind == "product_returned":
        for item in props.items:
            facts.touches.append(
                ItemTouch(subject, item.sku, Touch.RETURNED, at, item.name, item.quantity)
            )
    elif kind == "complaint_logged":
        facts.complaints.append(Complaint(subject, props.case_id, at, opened=True))
    elif kind == "case_resolved":
        facts.complaints.append(Complaint(subject, props.case_id, at, opened=False))
    elif kind == "unsubscribed":
        if props.purpose is p.ConsentPurpose.MARKETING:
            # An ESP unsubscribe is about the channel it came from: email.
            facts.consents.append(Consent(subject, "email", False, at))
    elif kind == "consent_updated":
        if props.purpose is p.ConsentPurpose.MARKETING:
            facts.consents.append(Consent(subject, props.channel.value, props.granted, at))
    elif kind in _FEEDBACK:
        outcome = _FEEDBACK[kind]
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
