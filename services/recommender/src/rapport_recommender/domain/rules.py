"""The rules that always hold, whatever scores high: consent, contact caps, exclusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

# Where the customer is already talking to us (our site, a store, an agent on the phone):
# an offer there is allowed unless they said no to marketing on it. Channels that reach out
# to them (email, sms, phone, post) need an explicit yes (opt-in).
IN_SESSION_CHANNELS = frozenset({"web", "store", "call_center"})
OUTREACH_CHANNELS = frozenset({"email", "sms", "phone", "post"})


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    channel: str  # a channel or "all"
    granted: bool
    at: datetime


def effective_consent(
    events: Iterable[ConsentEntry], card: Mapping[str, bool] | None = None
) -> dict[str, bool]:
    """Marketing consent per channel: the latest word on that channel or on "all" wins.

    The events are what we saw in the stream ourselves (so an unsubscribe stops email at
    once); the profile card's consent only fills channels no event spoke about.
    """
    latest: dict[str, ConsentEntry] = {}
    for entry in events:
        held = latest.get(entry.channel)
        if held is None or entry.at >= held.at:
            latest[entry.channel] = entry
    everywhere = latest.get("all")
    consent: dict[str, bool] = {}
    for channel in IN_SESSION_CHANNELS | OUTREACH_CHANNELS:
        own = latest.get(channel)
        candidates = [e for e in (own, everywhere) if e is not None]
        if candidates:
            consent[channel] = max(candidates, key=lambda e: e.at).granted
        elif card and channel in card:
            consent[channel] = card[channel]
        elif card and "all" in card:
            consent[channel] = card["all"]
        else:
            consent[channel] = channel in IN_SESSION_CHANNELS
    return consent


def contacts_this_week(
    presented: Iterable[tuple[str, datetime]], now: datetime, window_days: float = 7
) -> Counter[str]:
    """Offers presented per channel in the rolling window ending now."""
    since = now - timedelta(days=window_days)
    return Counter(channel for channel, at in presented if since < at <= now)


def open_channels(
    consent: Mapping[str, bool], contacts: Mapping[str, int], cap: int
) -> frozenset[str]:
    """Channels on which an offer may go now: consented and under the weekly cap."""
    return frozenset(
        channel
        for channel, granted in consent.items()
        if granted and contacts.get(channel, 0) < cap
    )


def pick_channel(preferences: Iterable[str], allowed: frozenset[str]) -> str | None:
    return next((channel for channel in preferences if channel in allowed), None)


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """What a customer did with one item, as far as the rules care."""

    sku: str
    last_bought_at: datetime | None = None
    returned_at: datetime | None = None
    declines: int = 0
    last_declined_at: datetime | None = None


class ItemFacts(Protocol):
    """What the exclusion rule reads of an item (an ItemRecord, or the store's item state)."""

    @property
    def sku(self) -> str: ...
    @property
    def last_bought_at(self) -> datetime | None: ...
    @property
    def returned_at(self) -> datetime | None: ...
    @property
    def declines(self) -> int: ...
    @property
    def last_declined_at(self) -> datetime | None: ...


def excluded_items(
    records: Iterable[ItemFacts],
    now: datetime,
    recent_purchase_days: float,
    decline_cooldown_days: float,
    declines_to_rest: int = 2,
) -> set[str]:
    """Items never to offer now: bought recently, ever returned, or declined twice lately."""
    bought_since = now - timedelta(days=recent_purchase_days)
    declined_since = now - timedelta(days=decline_cooldown_days)
    excluded = set()
    for record in records:
        if (
            (record.last_bought_at is not None and record.last_bought_at > bought_since)
            or record.returned_at is not None
            or (
                record.declines >= declines_to_rest
                and record.last_declined_at is not None
                and record.last_declined_at > declined_since
            )
        ):
            excluded.add(record.sku)
    return excluded
