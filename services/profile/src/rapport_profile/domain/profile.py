"""The profile as folded from the stream: counters, traits, consent, complaints.

Every rule here is order-independent where it can be: late events are common (offline tills,
batched webhooks), so a trait or a consent carries the time it was stated and only a newer
statement replaces it, and a complaint is open while it has been logged and not resolved,
whatever order the two events arrive in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from rapport_events.envelope import TouchpointEvent

PURCHASES = ("order_completed", "store_purchase")
MARKETING_CHANNELS = ("email", "sms", "phone", "web", "post")
# Interactions the business starts: they say nothing about the channel the customer prefers.
OUTBOUND = ("email_sent", "email_bounced", "offer_presented")
# The event types that change more than the counters and times every event moves.
FOLDED_TYPES = frozenset(
    (
        *PURCHASES,
        "product_returned",
        "complaint_logged",
        "case_resolved",
        "identify",
        "consent_updated",
        "unsubscribed",
        "preference_stated",
        "offer_presented",
        "offer_accepted",
        "offer_declined",
    )
)


@dataclass(frozen=True, slots=True)
class Stated:
    """A value and when it was stated: a newer statement wins, whatever the arrival order."""

    value: Any
    at: datetime


@dataclass(slots=True)
class Case:
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    category: str | None = None
    severity: str | None = None

    @property
    def open(self) -> bool:
        return self.opened_at is not None and self.resolved_at is None


@dataclass(frozen=True, slots=True)
class KeyFields:
    """The parts of the card other services act on; a change is published as CardChanged."""

    value_tier: str | None
    lifecycle_stage: str | None
    marketing_consent: tuple[tuple[str, bool], ...]
    open_complaints: int
    country: str | None


@dataclass(slots=True)
class ProfileState:
    profile_id: uuid.UUID
    created_at: datetime
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    orders: int = 0
    revenue: Decimal = Decimal(0)
    refunds: Decimal = Decimal(0)
    currency: str | None = None
    # The newest two purchase times, newest first (enough for "won back"), and the first one.
    recent_orders: list[datetime] = field(default_factory=list)
    first_order_at: datetime | None = None
    channels: dict[str, int] = field(default_factory=dict)
    inbound_channels: dict[str, int] = field(default_factory=dict)
    traits: dict[str, Stated] = field(default_factory=dict)
    preferences: dict[str, Stated] = field(default_factory=dict)
    # "marketing:email" → granted?; a "purpose:all" entry speaks for every channel.
    consent: dict[str, Stated] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    context_country: Stated | None = None
    value_tier: str | None = None
    lifecycle_stage: str | None = None
    recency_score: int | None = None
    frequency_score: int | None = None
    monetary_score: int | None = None
    version: int = 0

    # --- derived ---------------------------------------------------------------------------

    @property
    def net_revenue(self) -> Decimal:
        return self.revenue - self.refunds

    @property
    def average_order_value(self) -> Decimal | None:
        if not self.orders:
            return None
        return (self.net_revenue / self.orders).quantize(Decimal("0.01"))

    @property
    def last_order_at(self) -> datetime | None:
        return self.recent_orders[0] if self.recent_orders else None

    @property
    def previous_order_at(self) -> datetime | None:
        return self.recent_orders[1] if len(self.recent_orders) > 1 else None

    @property
    def open_cases(self) -> dict[str, Case]:
        return {case_id: case for case_id, case in self.cases.items() if case.open}

    @property
    def preferred_channel(self) -> str | None:
        """The channel the customer reaches us on most; ties go to the alphabetically first."""
        counts = self.inbound_channels or self.channels
        if not counts:
            return None
        return min(counts, key=lambda channel: (-counts[channel], channel))

    @property
    def country(self) -> str | None:
        stated = self.traits.get("country")
        if stated is not None:
            return str(stated.value)
        return None if self.context_country is None else str(self.context_country.value)

    def consent_for(self, purpose: str, channel: str) -> bool | None:
        """The newest statement about this purpose on this channel (or on all); None: unknown."""
        candidates = [
            stated
            for key in (f"{purpose}:{channel}", f"{purpose}:all")
            if (stated := self.consent.get(key)) is not None
        ]
        if not candidates:
            return None
        return bool(max(candidates, key=lambda stated: stated.at).value)

    def marketing_consent(self) -> dict[str, bool]:
        if not self.consent:
            return {}
        return {
            channel: granted
            for channel in MARKETING_CHANNELS
            if (granted := self.consent_for("marketing", channel)) is not None
        }

    def key_fields(self) -> KeyFields:
        return KeyFields(
            value_tier=self.value_tier,
            lifecycle_stage=self.lifecycle_stage,
            marketing_consent=tuple(sorted(self.marketing_consent().items())),
            open_complaints=len(self.open_cases),
            country=self.country,
        )


def _newer(current: Stated | None, candidate: Stated) -> Stated:
    return candidate if current is None or candidate.at >= current.at else current


def _state(mapping: dict[str, Stated], key: str, value: Any, at: datetime) -> None:
    mapping[key] = _newer(mapping.get(key), Stated(value, at))


def _record_order(state: ProfileState, at: datetime) -> None:
    state.recent_orders = sorted([*state.recent_orders, at], reverse=True)[:2]
    if state.first_order_at is None or at < state.first_order_at:
        state.first_order_at = at


def apply_event(state: ProfileState, event: TouchpointEvent) -> None:  # noqa: PLR0912
    """Fold one (new, deduplicated) event into the profile."""
    at = event.effective_time
    state.first_seen = at if state.first_seen is None else min(state.first_seen, at)
    state.last_seen = at if state.last_seen is None else max(state.last_seen, at)
    channel = str(event.channel)
    state.channels[channel] = state.channels.get(channel, 0) + 1
    if event.type not in OUTBOUND:
        state.inbound_channels[channel] = state.inbound_channels.get(channel, 0) + 1
    if event.context.country:
        state.context_country = _newer(
            state.context_country, Stated(event.context.country.upper(), at)
        )
    # Dispatch on the type tag, not `match` on the properties' classes: pydantic models are
    # ABCs, and each class pattern costs an ABC instance check (most events match none).
    # The envelope binds each tag to its properties class, so this is the same test.
    kind = event.type
    if kind not in FOLDED_TYPES:
        return
    props: Any = event.properties
    if kind in PURCHASES:
        state.orders += 1
        state.revenue += props.total
        state.currency = state.currency or props.currency
        _record_order(state, at)
    elif kind == "product_returned":
        state.refunds += props.refund
    elif kind == "complaint_logged":
        case = state.cases.setdefault(props.case_id, Case())
        case.opened_at = at if case.opened_at is None else min(case.opened_at, at)
        case.category = props.category or case.category
        case.severity = props.severity.value if props.severity else case.severity
    elif kind == "case_resolved":
        case = state.cases.setdefault(props.case_id, Case())
        case.resolved_at = at if case.resolved_at is None else max(case.resolved_at, at)
    elif kind == "identify":
        for name, value in props.traits.model_dump(exclude_none=True).items():
            _state(state.traits, name, value, at)
    elif kind == "consent_updated":
        _state(state.consent, f"{props.purpose.value}:{props.channel.value}", props.granted, at)
    elif kind == "unsubscribed":
        _state(state.consent, f"{props.purpose.value}:email", False, at)
    elif kind == "preference_stated":
        _state(state.preferences, props.key, props.value, at)
    else:  # offer_presented, offer_accepted, offer_declined
        outcome = kind.removeprefix("offer_")
        state.offers[outcome] = state.offers.get(outcome, 0) + 1


def _add_counts(left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
    return {key: left.get(key, 0) + right.get(key, 0) for key in sorted({*left, *right})}


def _merge_stated(left: dict[str, Stated], right: dict[str, Stated]) -> dict[str, Stated]:
    merged = dict(left)
    for key, stated in right.items():
        current = merged.get(key)
        # On a tie the survivor's statement stands.
        merged[key] = stated if current is None or stated.at > current.at else current
    return merged


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x is not None) if a or b else None


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x is not None) if a or b else None


def merge_profiles(survivor: ProfileState, merged: ProfileState) -> ProfileState:
    """One customer found to be two profiles: the survivor takes everything of the other."""
    cases = {case_id: replace(case) for case_id, case in survivor.cases.items()}
    for case_id, other in merged.cases.items():
        mine = cases.setdefault(case_id, Case())
        mine.opened_at = _min(mine.opened_at, other.opened_at)
        mine.resolved_at = _max(mine.resolved_at, other.resolved_at)
        mine.category = mine.category or other.category
        mine.severity = mine.severity or other.severity
    context_country = survivor.context_country
    if merged.context_country is not None:
        context_country = _newer(context_country, merged.context_country)
    return replace(
        survivor,
        created_at=min(survivor.created_at, merged.created_at),
        first_seen=_min(survivor.first_seen, merged.first_seen),
        last_seen=_max(survivor.last_seen, merged.last_seen),
        orders=survivor.orders + merged.orders,
        revenue=survivor.revenue + merged.revenue,
        refunds=survivor.refunds + merged.refunds,
        currency=survivor.currency or merged.currency,
        recent_orders=sorted([*survivor.recent_orders, *merged.recent_orders], reverse=True)[:2],
        first_order_at=_min(survivor.first_order_at, merged.first_order_at),
        channels=_add_counts(survivor.channels, merged.channels),
        inbound_channels=_add_counts(survivor.inbound_channels, merged.inbound_channels),
        traits=_merge_stated(survivor.traits, merged.traits),
        preferences=_merge_stated(survivor.preferences, merged.preferences),
        consent=_merge_stated(survivor.consent, merged.consent),
        cases=cases,
        offers=_add_counts(survivor.offers, merged.offers),
        context_country=context_country,
        version=max(survivor.version, merged.version),
    )
