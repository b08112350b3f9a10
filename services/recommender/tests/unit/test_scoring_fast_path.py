"""The fast product scoring gives exactly what the plain definition gives: same skus, same
order, same float scores, same reasons — on random histories with ties, repeats and exclusions,
with and without the portfolio rule (diversity) on a limited list."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from rapport_recommender.domain.customer import ItemState, history_of
from rapport_recommender.domain.facts import Touch
from rapport_recommender.domain.scoring import (
    DIVERSITY_POOL,
    Anchor,
    HistoryItem,
    Neighbour,
    ScoredItem,
    ScoringParams,
    Similar,
    product_scores,
    touch_weight,
)
from rapport_recommender.domain.similarity import cosine

NOW = datetime(2011, 9, 1, tzinfo=UTC)


def plain_scores(
    history: list[HistoryItem],
    anchors: dict[str, Anchor],
    popularity: dict[str, float],
    excluded: set[str],
    params: ScoringParams,
    reorders: dict[str, float],
) -> list[ScoredItem]:
    """The definition, written the obvious way (one credit at a time, a full sort)."""
    scores: dict[str, float] = {}
    best: dict[str, tuple[float, HistoryItem]] = {}

    def credit(sku: str, amount: float, because: HistoryItem) -> None:
        scores[sku] = scores.get(sku, 0.0) + amount
        if amount > best.get(sku, (0.0, because))[0]:
            best[sku] = (amount, because)

    for item in sorted(history, key=lambda h: h.at, reverse=True)[: params.max_history]:
        weight = touch_weight(item, NOW, params)
        if item.touch is Touch.BOUGHT and params.repurchase_weight > 0:
            again = (
                params.repurchase_weight
                * (1 + params.units_boost * math.log10(item.units))
                * item.orders**params.orders_power
                * max(1.0, reorders.get(item.sku, 1.0)) ** params.reorder_power
            )
            credit(item.sku, weight * again, item)
        anchor = anchors.get(item.sku)
        for n in anchor.neighbours[: params.neighbours] if anchor else ():
            credit(
                n.sku, weight * cosine(n.together, anchor.support, n.support, params.shrink), item
            )  # type: ignore[union-attr]
    for sku, value in popularity.items():
        scores[sku] = scores.get(sku, 0.0) + params.popularity_weight * value
    for sku in scores:
        scores[sku] *= max(1.0, reorders.get(sku, 1.0)) ** params.candidate_reorder_power
    ranked = [
        ScoredItem(sku, score, best[sku][1] if sku in best else None)
        for sku, score in scores.items()
        if sku not in excluded and score > 0 and math.isfinite(score)
    ]
    ranked.sort(key=lambda s: (-s.score, s.sku))
    return ranked


def plain_diversified(
    ranked: list[ScoredItem],
    history: list[HistoryItem],
    similar_to: dict[str, Similar],
    params: ScoringParams,
    limit: int,
) -> list[ScoredItem]:
    """The portfolio rule, written the obvious way: from the best 3 × limit, the next pick is
    the one whose score × (1 − diversity × highest similarity to a pick) is highest."""
    recent = sorted(history, key=lambda h: h.at, reverse=True)[: params.max_history]
    known = {h.sku: similar_to[h.sku] for h in recent if h.sku in similar_to}

    def similarity(a: str, b: str) -> float:
        return max(
            known[a].best.get(b, 0.0) if a in known else 0.0,
            known[b].best.get(a, 0.0) if b in known else 0.0,
        )

    pool = ranked[: DIVERSITY_POOL * limit]
    picked: list[ScoredItem] = []
    while pool and len(picked) < limit:

        def value(item: ScoredItem) -> float:
            closest = max((similarity(item.sku, p.sku) for p in picked), default=0.0)
            return item.score * max(0.0, 1.0 - params.diversity * closest)

        best = max(pool, key=value)  # the first of equals: the better ranked
        pool.remove(best)
        picked.append(ScoredItem(best.sku, value(best), best.because))
    return picked


@pytest.mark.parametrize("diversity", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(40))
def test_fast_scoring_equals_the_plain_definition(seed: int, diversity: float) -> None:
    rng = random.Random(seed)
    skus = [f"S{i}" for i in range(rng.randint(5, 60))]
    params = ScoringParams(
        max_history=rng.choice([3, 10, 50]),
        neighbours=rng.choice([2, 5, 100]),
        repurchase_weight=rng.choice([0.0, 3.0]),
        units_boost=rng.choice([0.0, 0.5]),
        reorder_power=rng.choice([0.0, 1.0, 1.5]),
        candidate_reorder_power=rng.choice([0.0, 1.0]),
        diversity=diversity,
    )
    days = [rng.choice([3, 3, 3, 40, 400]) for _ in skus]  # repeated days: equal times
    history = [
        HistoryItem(
            sku,
            rng.choice([Touch.BOUGHT, Touch.VIEWED]),
            NOW - timedelta(days=day),
            units=rng.randint(1, 50),
            orders=rng.randint(1, 5),
        )
        for sku, day in zip(skus, days, strict=True)
        if rng.random() < 0.6
    ]
    anchors = {
        sku: Anchor(
            rng.choice([4, 9]),
            # repeats of a neighbour and the anchor itself among its neighbours, on purpose
            [
                Neighbour(rng.choice(skus), rng.choice([1, 2, 2, 4]), rng.choice([2, 4, 9]))
                for _ in range(rng.randint(0, 12))
            ],
        )
        for sku in skus
        if rng.random() < 0.8
    }
    popularity = {sku: rng.choice([0.0, 0.5, 1.0]) for sku in rng.sample(skus, len(skus) // 3)}
    excluded = set(rng.sample(skus, len(skus) // 4))
    reorders = {sku: rng.choice([0.5, 1.0, 1.0, 2.5]) for sku in rng.sample(skus, len(skus) // 2)}
    expected = plain_scores(history, anchors, popularity, excluded, params, reorders)
    similar_to = {sku: a.similar(params.shrink, params.neighbours) for sku, a in anchors.items()}
    got_all = product_scores(
        history, similar_to, popularity, excluded, NOW, params, reorders=reorders
    )
    assert got_all == expected
    for limit in (1, 3, 10):
        got = product_scores(
            history, similar_to, popularity, excluded, NOW, params, limit=limit, reorders=reorders
        )
        if diversity:
            assert got == plain_diversified(expected, history, similar_to, params, limit)
        else:
            assert got == expected[:limit]


def test_history_of_the_most_recent_keeps_the_full_order() -> None:
    rng = random.Random(3)
    items = [
        ItemState(
            f"S{i}",
            last_bought_at=NOW - timedelta(days=rng.randint(0, 9)) if rng.random() < 0.5 else None,
            last_viewed_at=NOW - timedelta(days=rng.randint(0, 9)) if rng.random() < 0.5 else None,
        )
        for i in range(200)
    ]
    assert history_of(items, 20) == history_of(items)[:20]
    assert len(history_of(items, 20)) == 20
