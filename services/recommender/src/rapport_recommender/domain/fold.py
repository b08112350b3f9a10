"""Folding a batch of facts into state changes: pure, set-based, order-independent.

The service turns a `BatchUpdate` into one upsert per table; the offline evaluation applies
the very same `BatchUpdate` to dictionaries in memory. Every field is either a sum or a
latest-wins (greatest time), so replays and redeliveries that slip past deduplication still
cannot make the state depend on delivery order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapport_recommender.domain.facts import Facts, Outcome, Touch
from rapport_recommender.domain.scoring import ScoringParams, trend_weight

# sku, last bought, last viewed: what a customer already had before this batch.
PriorItems = Sequence[tuple[str, datetime | None, datetime | None]]


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(slots=True)
class ItemDelta:
    last_bought_at: datetime | None = None
    units: int = 0
    orders: int = 0  # orders (or store purchases) that held the item
    last_viewed_at: datetime | None = None
    returned_at: datetime | None = None
    declines: int = 0
    last_declined_at: datetime | None = None


@dataclass(slots=True)
class ItemStats:
    name: str | None = None
    buyers: int = 0
    viewers: int = 0
    units: int = 0
    orders: int = 0  # orders that held it (with `buyers`: how often it is re-ordered)
    trend: float = 0.0


@dataclass(slots=True)
class CustomerDelta:
    last_seen_at: datetime
    last_order_at: datetime | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class CoBasket:
    """One basket's co-occurrence increments, unexpanded: each item the customer got for the
    first time in it (`fresh`) pairs, both ways, with each of the `recent` items they had
    before it (their `pair_window` most recent distinct ones) and with the other fresh ones.
    A few skus instead of 2·fresh·(recent + fresh) pairs: the service stores these and the
    pair merger expands them in SQL, off the fold's path."""

    kind: str  # "bought" or "viewed"
    fresh: tuple[str, ...]
    recent: tuple[str, ...]


def co_baskets(
    kind: str, history: Sequence[str], baskets: Iterable[Sequence[str]], window: int
) -> list[CoBasket]:
    """The walk of `similarity.new_pairs`, recording each basket's fresh and recent items
    instead of their pairs (`expand(co_baskets(...)) == new_pairs(...)`, a unit test says)."""
    known = set(history)
    recent = list(dict.fromkeys(history))[:window]
    found = []
    for basket in baskets:
        lines = list(dict.fromkeys(basket))
        fresh = [sku for sku in lines if sku not in known]
        if fresh and (recent or len(fresh) > 1):  # a first lone item pairs with nothing
            found.append(CoBasket(kind, tuple(fresh), tuple(recent)))
        known.update(fresh)
        got = set(lines)
        recent = (lines + [sku for sku in recent if sku not in got])[:window]
    return found


def expand(baskets: Iterable[CoBasket]) -> Counter[tuple[str, str, str]]:
    """(kind, a, b) → how many more customers have both, from unexpanded baskets."""
    pairs: Counter[tuple[str, str, str]] = Counter()
    for basket in baskets:
        kind, fresh = basket.kind, basket.fresh
        for i, sku in enumerate(fresh):
            for other in basket.recent + fresh[i + 1 :]:
                pairs[(kind, sku, other)] += 1
                pairs[(kind, other, sku)] += 1
    return pairs


@dataclass(slots=True)
class BatchUpdate:
    customer_items: dict[tuple[str, str], ItemDelta] = field(default_factory=dict)
    items: dict[str, ItemStats] = field(default_factory=dict)
    country_units: Counter[tuple[str, str]] = field(default_factory=Counter)
    co_baskets: list[CoBasket] = field(default_factory=list)
    customers: dict[str, CustomerDelta] = field(default_factory=dict)
    carts: dict[str, tuple[tuple[str, ...], datetime]] = field(default_factory=dict)
    complaints: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = field(
        default_factory=dict
    )
    consents: dict[tuple[str, str], tuple[bool, datetime]] = field(default_factory=dict)
    contacts: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    # (subject, kind) → (accepted, declined)
    answers: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    @property
    def pairs(self) -> Counter[tuple[str, str, str]]:
        """(kind, a, b) → increment, expanded (the offline evaluation adds them in memory)."""
        return expand(self.co_baskets)


def fold_batch(  # noqa: PLR0912 - one short loop per kind of fact
    facts: Facts,
    prior: Mapping[str, PriorItems],
    params: ScoringParams,
    trend_epoch: datetime,
) -> BatchUpdate:
    update = BatchUpdate()
    for subject, at in facts.seen.items():
        update.customers[subject] = CustomerDelta(at, country=facts.countries.get(subject))
    _fold_touches(facts, prior, params, trend_epoch, update)
    for order in facts.orders:
        delta = update.customers[order.subject]
        delta.last_order_at = _later(delta.last_order_at, order.at)
    for touch in facts.touches:
        if touch.touch is Touch.BOUGHT:
            country = facts.countries.get(touch.subject)
            if country:
                update.country_units[(country, touch.sku)] += touch.quantity
    for cart in facts.carts:
        held = update.carts.get(cart.subject)
        if held is None or cart.at >= held[1]:
            update.carts[cart.subject] = (cart.skus, cart.at)
    for complaint in facts.complaints:
        opened, resolved = update.complaints.get(
            (complaint.subject, complaint.case_id), (None, None)
        )
        if complaint.opened:
            opened = opened or complaint.at
        else:
            resolved = _later(resolved, complaint.at)
        update.complaints[(complaint.subject, complaint.case_id)] = (opened, resolved)
    for consent in facts.consents:
        key = (consent.subject, consent.channel)
        held_consent = update.consents.get(key)
        if held_consent is None or consent.at >= held_consent[1]:
            update.consents[key] = (consent.granted, consent.at)
    for answer in facts.feedback:
        if answer.outcome is Outcome.PRESENTED:
            update.contacts.append((answer.event_id, answer.subject, answer.channel, answer.at))
            continue
        accepted, declined = update.answers.get((answer.subject, answer.kind), (0, 0))
        if answer.outcome is Outcome.ACCEPTED:
            accepted += 1
        else:
            declined += 1
        update.answers[(answer.subject, answer.kind)] = (accepted, declined)
    return update


def _fold_touches(
    facts: Facts,
    prior: Mapping[str, PriorItems],
    params: ScoringParams,
    trend_epoch: datetime,
    update: BatchUpdate,
) -> None:
    # subject → time → skus: the lines of one order share its time, so they form a basket.
    new_buys: dict[str, dict[datetime, list[str]]] = {}
    new_views: dict[str, dict[datetime, list[str]]] = {}
    for touch in facts.touches:
        delta = update.customer_items.setdefault((touch.subject, touch.sku), ItemDelta())
        stats = update.items.setdefault(touch.sku, ItemStats())
        if touch.name:
            stats.name = touch.name
        if touch.touch is Touch.BOUGHT:
            delta.last_bought_at = _later(delta.last_bought_at, touch.at)
            delta.units += touch.quantity
            delta.orders += 1
            stats.units += touch.quantity
            stats.orders += 1
            stats.trend += touch.quantity * trend_weight(
                touch.at, trend_epoch, params.trend_half_life_days
            )
            new_buys.setdefault(touch.subject, {}).setdefault(touch.at, []).append(touch.sku)
        elif touch.touch is Touch.VIEWED:
            delta.last_viewed_at = _later(delta.last_viewed_at, touch.at)
            new_views.setdefault(touch.subject, {}).setdefault(touch.at, []).append(touch.sku)
        elif touch.touch is Touch.RETURNED:
            delta.returned_at = _later(delta.returned_at, touch.at)
        elif touch.touch is Touch.DECLINED:
            delta.declines += 1
            delta.last_declined_at = _later(delta.last_declined_at, touch.at)
    for kind, fresh, position in (("bought", new_buys, 1), ("viewed", new_views, 2)):
        for subject, by_time in fresh.items():
            baskets = [by_time[at] for at in sorted(by_time)]
            skus = [sku for basket in baskets for sku in basket]
            had = [
                (entry[0], entry[position])
                for entry in prior.get(subject, ())
                if entry[position] is not None
            ]
            had.sort(key=lambda pair: pair[1], reverse=True)  # type: ignore[arg-type, return-value]
            history = [sku for sku, _ in had]
            known = set(history)
            first_time = [sku for sku in dict.fromkeys(skus) if sku not in known]
            for sku in first_time:
                stats = update.items[sku]
                if kind == "bought":
                    stats.buyers += 1
                else:
                    stats.viewers += 1
            update.co_baskets.extend(co_baskets(kind, history, baskets, params.pair_window))
