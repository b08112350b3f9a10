"""Scoring product candidates for one customer: pure arithmetic over what they did and what
items go together. The service and the offline evaluation call exactly this."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, repeat
from operator import add, mul
from typing import NamedTuple

from rapport_recommender.domain.facts import Touch
from rapport_recommender.domain.similarity import cosine

SECONDS_PER_DAY = 86_400.0
DIVERSITY_POOL = 3  # a diversified list of n is picked from the best 3n


@dataclass(frozen=True, slots=True)
class ScoringParams:
    """One set of parameters for service and evaluation alike (no tuning per split)."""

    history_half_life_days: float = 365.0  # a purchase a year old counts half
    view_weight: float = 0.3  # a view says less than a purchase
    shrink: float = 5.0  # cosine shrinkage (pairs seen a few times only count less)
    max_history: int = 100  # most recent items of a customer that score
    # A customer's new item pairs with their this many most recent items (and its basket):
    # the bound on co-occurrence rows written per event (see domain.similarity).
    pair_window: int = 15
    neighbours: int = 100  # neighbours kept per history item
    # "Buy again" for items bought long enough ago: a wholesaler restocks the same lines, so
    # re-buying outweighs co-purchase, the more so the more orders held the item.
    repurchase_weight: float = 3.0
    units_boost: float = 0.0  # buy-again × (1 + units_boost · log10 units bought)
    orders_power: float = 1.0  # buy-again × orders ** orders_power (how often it is re-bought)
    # buy-again × (the item's orders per buyer, shop-wide) ** reorder_power: a staple that
    # customers re-order (bags, tea lights) comes back; a one-off gift rarely does, however
    # often this customer bought it. Chosen on validation splits, see EVAL.md.
    reorder_power: float = 1.0
    # every candidate's score × its orders per buyer ** this: a prior for staples among the
    # neighbours and the popular too (on the validation splits: NDCG +0.001-0.003)
    candidate_reorder_power: float = 1.0
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
    # The list is a portfolio: each offer's score × (1 − diversity × its highest similarity to
    # an offer above it), picked greedily from the best DIVERSITY_POOL × limit. Ten lines the
    # customer restocks together are one bet; on the validation splits this lifted returning
    # customers' HR@10 by 1.2 and 1.4 points (NDCG@10 −0.008). See EVAL.md.
    diversity: float = 1.0


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """Something the customer did with an item (their latest such touch)."""

    sku: str
    touch: Touch
    at: datetime
    units: int = 1  # bought over all time (1 for a view)
    orders: int = 1  # orders that held it (1 for a view)


class Neighbour(NamedTuple):
    """A tuple, not a dataclass: the store builds 10,000 of them for one wholesaler."""

    sku: str
    together: int  # customers who have both
    support: int  # customers who have the neighbour


@dataclass(frozen=True, slots=True)
class Anchor:
    """A history item's own support and its nearest neighbours."""

    support: int
    neighbours: Sequence[Neighbour]

    def similar(self, shrink: float, keep: int) -> Similar:
        """The first `keep` neighbours with their shrunk cosine: what scoring reads. Kept
        instead of the anchor where anchors are held for long (the service's market reads):
        a third of its size."""
        pairs = [
            (n.sku, cosine(n.together, self.support, n.support, shrink))
            for n in self.neighbours[:keep]
        ]
        best: dict[str, float] = {}
        for sku, similarity in pairs:
            best[sku] = max(similarity, best.get(sku, similarity))
        skus = tuple(sku for sku, _ in pairs)
        values = tuple(similarity for _, similarity in pairs)
        return Similar(skus, values, best)


@dataclass(frozen=True, slots=True)
class Similar:
    """An anchor's neighbours with their similarity, in order; and the highest per sku."""

    skus: tuple[str, ...]
    values: tuple[float, ...]
    best: dict[str, float]


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
    similar_to: Mapping[str, Similar],
    popularity: Mapping[str, float],
    excluded: set[str],
    now: datetime,
    params: ScoringParams,
    limit: int | None = None,
    reorders: Mapping[str, float] | None = None,
) -> list[ScoredItem]:
    """Candidates ranked best first (the best `limit` of them, if given): Σ over history of
    recency × shrunk cosine (`similar_to`: a history sku → its neighbours, `Anchor.similar`),
    plus buy-again for items bought long enough ago (the more, the more orders held it and the
    more the shop's customers re-order it: `reorders` is the item's orders per buyer), plus a
    little popularity (which also ranks customers with no history at all).

    The hot loop of the service (a wholesaler's 50 items × 100 neighbours are 5,000 credits):
    one dictionary of floats, summed in history order; the reason ("because of which history
    item") is only worked out for the few candidates returned.
    """
    scores: dict[str, float] = {}
    get = scores.get
    recent = sorted(history, key=_at, reverse=True)[: params.max_history]
    credits: list[tuple[HistoryItem, float, float, Similar | None]] = []
    rates = reorders or {}
    for item in recent:
        weight = touch_weight(item, now, params)
        again = _again(item, params, rates.get(item.sku, 1.0))
        if again is not None:
            scores[item.sku] = get(item.sku, 0.0) + weight * again
        similar = similar_to.get(item.sku)
        if similar is not None:
            # scores[sku] = scores.get(sku, 0.0) + weight × similarity for each neighbour in
            # turn, iterated in C (`update` consumes the pairs one by one, so a repeated sku
            # adds up exactly as the plain loop would).
            scores.update(
                zip(
                    similar.skus,
                    map(
                        add,
                        map(get, similar.skus, repeat(0.0)),
                        map(mul, repeat(weight), similar.values),
                    ),
                    strict=True,
                )
            )
        credits.append((item, weight, -1.0 if again is None else weight * again, similar))
    share = params.popularity_weight
    for sku, value in popularity.items():
        scores[sku] = get(sku, 0.0) + share * value
    if params.candidate_reorder_power and rates:
        power = params.candidate_reorder_power
        for sku, score in scores.items():
            if (rate := rates.get(sku, 1.0)) > 1.0:
                scores[sku] = score * rate**power
    if limit is None or params.diversity <= 0:
        listed = [(sku, scores[sku]) for sku in _best(scores, excluded, limit)]
    else:
        anchors = {item.sku: near for item, _, _, near in credits if near is not None}
        pool = _best(scores, excluded, limit * DIVERSITY_POOL)
        listed = _diversified(pool, scores, anchors, limit, params.diversity)
    return [ScoredItem(sku, score, _because(sku, credits)) for sku, score in listed]


def _best(scores: dict[str, float], excluded: set[str], limit: int | None) -> list[str]:
    """The skus worth offering (positive, finite, not excluded), best first and by sku among
    equals: the first `limit` of them, if given."""
    candidates: Iterable[str] = scores
    n = None if limit is None else limit + len(scores.keys() & excluded)
    if n is not None and len(scores) > n and math.isfinite(sum(scores.values())):
        # Only what scores at least the n-th highest of all can be among the first `limit`
        # once the excluded are taken out (ties included): a C-level sort and filter of the
        # floats instead of a Python pass over thousands of candidates.
        floor = sorted(scores.values(), reverse=True)[n - 1]
        candidates = compress(scores, map(floor.__le__, scores.values()))
    eligible = [
        sku
        for sku in candidates
        if (score := scores[sku]) > 0 and sku not in excluded and math.isfinite(score)
    ]
    eligible.sort(key=lambda sku: (-scores[sku], sku))
    return eligible[:limit]


def _diversified(
    pool: Sequence[str],
    scores: Mapping[str, float],
    anchors: Mapping[str, Similar],
    limit: int,
    diversity: float,
) -> list[tuple[str, float]]:
    """The first `limit` of `pool` (best first) picked one at a time: the next is the one whose
    score, discounted by its highest similarity to one already picked, is highest (the earlier
    in `pool` among equals); that discounted score is its score, so scores still descend.

    Similarity is what the customer's history items know of their neighbours (`anchors`):
    the same in the service, which reads the neighbours of those items only, and in the
    evaluation."""
    left = list(pool)
    values = [scores[sku] for sku in left]  # discounted by the closest pick so far
    closest = [0.0] * len(left)  # highest similarity to an item picked so far
    own = [anchors.get(sku) for sku in left]
    picked: list[tuple[str, float]] = []
    while left and len(picked) < limit:
        index = values.index(max(values))
        sku, value, near = left.pop(index), values.pop(index), own.pop(index)
        del closest[index]
        picked.append((sku, value))
        for i, other in enumerate(left):
            around = own[i]
            similarity = max(
                near.best.get(other, 0.0) if near is not None else 0.0,
                around.best.get(sku, 0.0) if around is not None else 0.0,
            )
            if similarity > closest[i]:
                closest[i] = similarity
                values[i] = scores[other] * max(0.0, 1.0 - diversity * similarity)
    return picked


def _again(item: HistoryItem, params: ScoringParams, reorder: float = 1.0) -> float | None:
    """The buy-again factor of a history item (None for a view, or when buy-again is off);
    `reorder` is the item's orders per buyer over the whole shop (1.0 when unknown)."""
    if item.touch is not Touch.BOUGHT or params.repurchase_weight <= 0:
        return None
    again: float = (
        params.repurchase_weight
        * (1 + params.units_boost * math.log10(item.units))
        * item.orders**params.orders_power
        * max(1.0, reorder) ** params.reorder_power
    )
    return again


def reorder_rates(orders: Mapping[str, float], buyers: Mapping[str, float]) -> dict[str, float]:
    """Orders per buyer of each item bought at least once: how often a customer who has it
    orders it again (1.0: nobody re-orders it)."""
    return {sku: n / buyers[sku] for sku, n in orders.items() if buyers.get(sku, 0) > 0}


def _because(
    sku: str, credits: Sequence[tuple[HistoryItem, float, float, Similar | None]]
) -> HistoryItem | None:
    """The history item that contributed most to a candidate (the earliest, most recent
    first, among equals; None when only popularity did)."""
    best, because = 0.0, None
    for item, weight, again, similar in credits:
        amount = again if item.sku == sku else -1.0
        if similar is not None and (similarity := similar.best.get(sku)) is not None:
            amount = max(amount, weight * similarity)
        if amount > best:
            best, because = amount, item
    return because


def _at(item: HistoryItem) -> datetime:
    return item.at
