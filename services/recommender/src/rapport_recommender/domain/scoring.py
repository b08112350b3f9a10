"""Scoring product candidates for one customer: pure arithmetic over what they did and what
items go together. The service and the offline evaluation call exactly this."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rapport_recommender.domain.facts import Touch
from rapport_recommender.domain.similarity import cosine

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ScoringParams:
    """One set of parameters for service and evaluation alike (no tuning per split)."""

    history_half_life_days: float = 365.0  # a purchase a year old counts half
    view_weight: float = 0.3  # a view says less than a purchase
    shrink: float = 2.0  # cosine shrinkage (pairs seen once or twice count less)
    max_history: int = 50  # most recent items of a customer that score
    # A customer's new item pairs with their this many most recent items (and its basket):
    # the bound on co-occurrence rows written per event (see domain.similarity).
    pair_window: int = 15
    neighbours: int = 100  # neighbours kept per history item
    # "Buy again" for items bought long enough ago: a wholesaler restocks the same lines, so
    # re-buying outweighs co-purchase, the more so the more orders held the item.
    repurchase_weight: float = 3.0
    units_boost: float = 0.0  # buy-again × (1 + units_boost · log10 units bought)
    orders_power: float = 0.5  # buy-again × orders ** orders_power (how often it is re-bought)
    popularity_weight: float = 0.05  # blend of trending / country / overall popularity
    # Never offer what was bought this recently: two weeks, well inside a wholesale customer's
    # restocking cycle (re-bought lines: median 44 days since the last order, a quarter
    # within 23 days, in the Online Retail data); after it, "time to stock up again" is fair.
    recent_purchase_days: float = 14.0
    trend_half_life_days: float = 14.0
    # Shares of the popularity blend: trending, the customer's country, all-time buyers.
    # All-time buyers rank a newcomer's first offers better than this fortnight's trend.
    trending_share: float = 0.0
    country_share: float = 0.3
    overall_share: float = 1.0


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """Something the customer did with an item (their latest such touch)."""

    sku: str
    touch: Touch
    at: datetime
    units: int = 1  # bought over all time (1 for a view)
    orders: int = 1  # orders that held it (1 for a view)


@dataclass(frozen=True, slots=True)
class Neighbour:
    sku: str
    together: int  # customers who have both
    support: int  # customers who have the neighbour


@dataclass(frozen=True, slots=True)
class Anchor:
    """A history item's own support and its nearest neighbours."""

    support: int
    neighbours: Sequence[Neighbour]


@dataclass(frozen=True, slots=True)
class ScoredItem:
    sku: str
    score: float
    because: HistoryItem | None  # the history item that contributed most (for the reason)


def recency_weight(at: datetime, now: datetime, half_life_days: float) -> float:
    """1.0 now, 0.5 one half-life ago; the future (clock skew) counts as now."""
    age_days = max(0.0, (now - at).total_seconds() / SECONDS_PER_DAY)
    return float(0.5 ** (age_days / half_life_days))


def trend_weight(at: datetime, epoch: datetime, half_life_days: float) -> float:
    """A unit's weight in the time-decayed trending score, relative to a fixed epoch.

    Σ weight over purchases ranks items exactly as the decayed count at any later time would
    (the common decay factor cancels), and it is a plain sum: order-independent, so events
    may arrive late or twice-deduped and batches add up with `+`.
    """
    return float(2.0 ** ((at - epoch).total_seconds() / SECONDS_PER_DAY / half_life_days))


def normalise(values: Mapping[str, float]) -> dict[str, float]:
    """Scale so that the largest is 1.0 (empty or all-zero stays as is)."""
    top = max(values.values(), default=0.0)
    if top <= 0:
        return dict(values)
    return {key: value / top for key, value in values.items()}


def popularity_blend(
    overall: Mapping[str, float],
    country: Mapping[str, float],
    trending: Mapping[str, float],
    params: ScoringParams,
) -> dict[str, float]:
    """Popularity in [0, 1]: the shares of trending, the customer's country and all-time."""
    parts = (
        (normalise(trending), params.trending_share),
        (normalise(country), params.country_share),
        (normalise(overall), params.overall_share),
    )
    blended: dict[str, float] = {}
    for values, weight in parts:
        for sku, value in values.items():
            blended[sku] = blended.get(sku, 0.0) + weight * value
    return blended


def touch_weight(item: HistoryItem, now: datetime, params: ScoringParams) -> float:
    base = 1.0 if item.touch is Touch.BOUGHT else params.view_weight
    return base * recency_weight(item.at, now, params.history_half_life_days)


def product_scores(
    history: Sequence[HistoryItem],
    anchors: Mapping[str, Anchor],
    popularity: Mapping[str, float],
    excluded: set[str],
    now: datetime,
    params: ScoringParams,
) -> list[ScoredItem]:
    """Candidates ranked best first: Σ over history of recency × shrunk cosine, plus buy-again
    for items bought long enough ago, plus a little popularity (which also ranks customers
    with no history at all)."""
    scores: dict[str, float] = {}
    best: dict[str, tuple[float, HistoryItem]] = {}
    recent = sorted(history, key=lambda h: h.at, reverse=True)[: params.max_history]
    for item in recent:
        weight = touch_weight(item, now, params)
        anchor = anchors.get(item.sku)
        if item.touch is Touch.BOUGHT and params.repurchase_weight > 0:
            again = (
                params.repurchase_weight
                * (1 + params.units_boost * math.log10(item.units))
                * item.orders**params.orders_power
            )
            _credit(scores, best, item.sku, weight * again, item)
        if anchor is None:
            continue
        for neighbour in anchor.neighbours[: params.neighbours]:
            similarity = cosine(
                neighbour.together, anchor.support, neighbour.support, params.shrink
            )
            _credit(scores, best, neighbour.sku, weight * similarity, item)
    for sku, value in popularity.items():
        scores[sku] = scores.get(sku, 0.0) + params.popularity_weight * value
    ranked = [
        ScoredItem(sku, score, best[sku][1] if sku in best else None)
        for sku, score in scores.items()
        if sku not in excluded and score > 0 and math.isfinite(score)
    ]
    ranked.sort(key=lambda s: (-s.score, s.sku))
    return ranked


def _credit(
    scores: dict[str, float],
    best: dict[str, tuple[float, HistoryItem]],
    sku: str,
    amount: float,
    because: HistoryItem,
) -> None:
    scores[sku] = scores.get(sku, 0.0) + amount
    if amount > best.get(sku, (0.0, because))[0]:
        best[sku] = (amount, because)
