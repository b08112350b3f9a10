"""One customer's state, gathered over all their identifiers, and what follows from it."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rapport_recommender.domain.bandit import Posterior
from rapport_recommender.domain.facts import Touch
from rapport_recommender.domain.offers import (
    MAX_PRODUCTS,
    CustomerView,
    Kind,
    Offer,
    rank_offers,
)
from rapport_recommender.domain.rules import (
    ConsentEntry,
    contacts_this_week,
    effective_consent,
    excluded_items,
    open_channels,
)
from rapport_recommender.domain.scoring import (
    HistoryItem,
    ScoringParams,
    Similar,
    popularity_blend,
    product_scores,
)


@dataclass(frozen=True, slots=True)
class Policy:
    contact_cap_per_week: int = 3
    decline_cooldown_days: float = 90.0
    abandoned_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class ItemState:
    sku: str
    last_bought_at: datetime | None = None
    last_viewed_at: datetime | None = None
    returned_at: datetime | None = None
    declines: int = 0
    last_declined_at: datetime | None = None
    units: int = 0  # bought over all time
    orders: int = 0  # orders that held it


@dataclass(frozen=True, slots=True)
class CustomerState:
    items: Sequence[ItemState] = ()
    last_order_at: datetime | None = None
    country: str | None = None
    cart: tuple[Sequence[str], datetime] | None = None
    complaints: Sequence[tuple[str, datetime | None, datetime | None]] = ()
    consents: Sequence[ConsentEntry] = ()
    presented: Sequence[tuple[str, datetime]] = ()  # (channel, at) of offers presented


@dataclass(frozen=True, slots=True)
class Card:
    value_tier: str | None = None
    lifecycle_stage: str | None = None
    marketing_consent: Mapping[str, bool] = field(default_factory=dict)
    country: str | None = None


def merge_items(items: Sequence[ItemState]) -> list[ItemState]:
    """One row per sku when a customer's identifiers each hold one (after a merge)."""
    merged: dict[str, ItemState] = {}
    for item in items:
        held = merged.get(item.sku)
        if held is None:
            merged[item.sku] = item
            continue
        merged[item.sku] = ItemState(
            item.sku,
            _later(held.last_bought_at, item.last_bought_at),
            _later(held.last_viewed_at, item.last_viewed_at),
            _later(held.returned_at, item.returned_at),
            held.declines + item.declines,
            _later(held.last_declined_at, item.last_declined_at),
            held.units + item.units,
            held.orders + item.orders,
        )
    return list(merged.values())


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def history_of(items: Sequence[ItemState], most: int | None = None) -> list[HistoryItem]:
    """The latest touch per item, most recent first (only the `most` recent, if given): a
    purchase counts over a view of the same item."""
    if most is not None and len(items) > most:
        # A wholesaler holds hundreds of lines and only the most recent ones score.
        items = heapq.nlargest(most, items, key=_latest_touch)
    history = []
    for item in items:
        if item.last_bought_at is not None:
            history.append(
                HistoryItem(
                    item.sku,
                    Touch.BOUGHT,
                    item.last_bought_at,
                    max(1, item.units),
                    max(1, item.orders),
                )
            )
        elif item.last_viewed_at is not None:
            history.append(HistoryItem(item.sku, Touch.VIEWED, item.last_viewed_at))
    history.sort(key=lambda h: (h.at, h.sku), reverse=True)
    return history


def _latest_touch(item: ItemState) -> tuple[bool, datetime, str]:
    """The sort key of `history_of` (items never bought nor viewed come last)."""
    at = item.last_bought_at or item.last_viewed_at
    return (at is not None, at or datetime.min.replace(tzinfo=UTC), item.sku)


def excluded_of(
    items: Sequence[ItemState], now: datetime, params: ScoringParams, policy: Policy
) -> set[str]:
    return excluded_items(
        items,
        now,
        params.recent_purchase_days,
        policy.decline_cooldown_days,
    )


def abandoned_cart(state: CustomerState, now: datetime, policy: Policy) -> Sequence[str]:
    """The cart's items if it was left a while ago and no order followed it."""
    if state.cart is None:
        return ()
    skus, at = state.cart
    if not skus or now - at < policy.abandoned_after:
        return ()
    if state.last_order_at is not None and state.last_order_at >= at:
        return ()
    return skus


def open_complaints(state: CustomerState) -> list[tuple[str, datetime]]:
    found = [
        (case_id, opened)
        for case_id, opened, resolved in state.complaints
        if opened is not None and (resolved is None or resolved < opened)
    ]
    found.sort(key=lambda c: c[1])
    return found


@dataclass(frozen=True, slots=True)
class Market:
    """What the whole shop knows that one customer's offers draw on."""

    similar_to: Mapping[str, Similar]  # a history sku → its neighbours and their similarity
    overall: Mapping[str, float]
    country: Mapping[str, float]
    trending: Mapping[str, float]
    names: Mapping[str, str]
    # sku → the item's orders per buyer, shop-wide (buy-again favours what people re-order)
    reorders: Mapping[str, float] = field(default_factory=dict)


def next_best_offers(
    state: CustomerState,
    card: Card,
    market: Market,
    posteriors: Mapping[Kind, Posterior],
    now: datetime,
    params: ScoringParams,
    policy: Policy,
    *,
    salt: str,
) -> list[Offer]:
    items = merge_items(state.items)
    excluded = excluded_of(items, now, params, policy)
    complaints = open_complaints(state)
    # An open complaint holds back every sales offer (rank_offers): no products to score.
    products = (
        []
        if complaints
        else product_scores(
            history_of(items, params.max_history),
            market.similar_to,
            popularity_blend(market.overall, market.country, market.trending, params),
            excluded,
            now,
            params,
            limit=MAX_PRODUCTS,
            reorders=market.reorders,
        )
    )
    consent = effective_consent(state.consents, card.marketing_consent)
    contacts = contacts_this_week(state.presented, now)
    view = CustomerView(
        now=now,
        channels=open_channels(consent, contacts, policy.contact_cap_per_week),
        value_tier=card.value_tier,
        lifecycle_stage=card.lifecycle_stage,
        open_complaints=complaints,
        abandoned_cart=[s for s in abandoned_cart(state, now, policy) if s not in excluded],
        cart_at=state.cart[1] if state.cart else None,
        names=market.names,
    )
    return rank_offers(view, products, posteriors, salt=salt)
