"""The scoring math: cosine normalisation, decay, pair counting, bandit, metrics."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from rapport_recommender.domain.bandit import Posterior, factor
from rapport_recommender.domain.facts import Touch
from rapport_recommender.domain.reach import by_reach
from rapport_recommender.domain.rules import (
    ConsentEntry,
    ItemRecord,
    effective_consent,
    excluded_items,
)
from rapport_recommender.domain.scoring import (
    Anchor,
    HistoryItem,
    Neighbour,
    ScoredItem,
    ScoringParams,
    product_scores,
    recency_weight,
    reorder_rates,
    trend_weight,
)
from rapport_recommender.domain.similarity import cosine, lift, new_pairs
from rapport_recommender.evaluation.metrics import hit, ndcg, precision

NOW = datetime(2011, 9, 1, tzinfo=UTC)


def test_cosine_keeps_best_sellers_from_swamping() -> None:
    # A best-seller bought by 1000 with the lamp 20 times vs a niche shade 10 of 12 times.
    assert cosine(10, 50, 12) > cosine(20, 50, 1000)
    assert math.isclose(cosine(4, 4, 4), 1.0)
    assert math.isclose(cosine(2, 4, 4, shrink=2), 0.5 * 0.5)
    assert cosine(0, 4, 4) == 0.0
    assert math.isclose(lift(10, 20, 50, 1000), 10.0)


def test_new_pairs_counts_each_customer_once_both_ways() -> None:
    pairs = new_pairs(["A", "B"], [["C", "A"]], window=10)
    assert pairs == {("C", "A"): 1, ("A", "C"): 1, ("C", "B"): 1, ("B", "C"): 1}
    assert new_pairs(["A"], [["A"]], 10) == {}
    assert len(new_pairs([f"x{i}" for i in range(100)], [["N"]], window=5)) == 10


def test_new_pairs_window_slides_over_baskets_and_a_basket_pairs_whole() -> None:
    # Window 2: basket C,D pairs with A,B (most recent first) and within itself; E then
    # pairs with C,D (the newest) only, and an item seen in an earlier basket is not new.
    pairs = new_pairs(["A", "B", "Z"], [["C", "D"], ["E", "C"]], window=2)
    partners = {a: {b for x, b in pairs if x == a} for a, _ in pairs}
    assert partners["C"] == {"A", "B", "D", "E"}
    assert partners["E"] == {"C", "D"}
    assert "Z" not in partners
    assert set(pairs.values()) == {1}


def test_decay_halves_each_half_life_and_trend_is_additive() -> None:
    assert math.isclose(recency_weight(NOW - timedelta(days=60), NOW, 60), 0.5)
    assert recency_weight(NOW + timedelta(days=1), NOW, 60) == 1.0
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    later, earlier = trend_weight(NOW, epoch, 14), trend_weight(NOW - timedelta(days=14), epoch, 14)
    assert math.isclose(later / earlier, 2.0)


def test_product_scores_rank_by_recent_similarity_and_name_the_reason() -> None:
    history = [HistoryItem("LAMP", Touch.BOUGHT, NOW - timedelta(days=40))]
    anchors = {"LAMP": Anchor(10, [Neighbour("SHADE", 8, 9), Neighbour("BULB", 2, 100)])}
    params = ScoringParams()
    similar_to = {sku: a.similar(params.shrink, params.neighbours) for sku, a in anchors.items()}
    ranked = product_scores(history, similar_to, {"POPULAR": 1.0}, {"LAMP"}, NOW, params)
    # SHADE: 8/sqrt(10·9) · 8/13 shrink · 0.92 decay ≈ 0.48; BULB's 2 of 100 buyers ≈ 0.02
    # falls below the popularity blend (0.05) of a best-seller.
    assert [r.sku for r in ranked] == ["SHADE", "POPULAR", "BULB"]
    assert ranked[0].because == history[0]
    assert "LAMP" not in [r.sku for r in ranked]
    assert "POPULAR" in [r.sku for r in ranked]


def test_bandit_and_rules() -> None:
    assert factor(Posterior()) == 1.0
    assert factor(Posterior().updated(0, 3)) < factor(Posterior().updated(3, 0))
    consent = effective_consent(
        [ConsentEntry("email", True, NOW - timedelta(days=2)), ConsentEntry("all", False, NOW)]
    )
    assert consent["email"] is False
    assert effective_consent([])["email"] is False
    assert effective_consent([])["web"] is True
    records = [
        ItemRecord("OLD", last_bought_at=NOW - timedelta(days=200)),
        ItemRecord("NEW", last_bought_at=NOW - timedelta(days=2)),
        ItemRecord("RET", returned_at=NOW - timedelta(days=300)),
        ItemRecord("NO", declines=2, last_declined_at=NOW - timedelta(days=1)),
    ]
    assert excluded_items(records, NOW, 30, 90) == {"NEW", "RET", "NO"}


def test_ranking_metrics() -> None:
    assert hit(["a", "b"], {"b"}) == 1.0
    assert hit(["a"], {"b"}) == 0.0
    assert precision(["a", "b"], {"a", "b"}, k=10) == 0.2
    assert math.isclose(ndcg(["x", "a"], {"a"}), 1 / math.log2(3))
    assert ndcg(["a", "b"], {"a", "b"}) == 1.0


def test_buy_again_prefers_lines_restocked_often_and_waits_two_weeks() -> None:
    params = ScoringParams()
    history = [
        HistoryItem("ONCE", Touch.BOUGHT, NOW - timedelta(days=40), units=100, orders=1),
        HistoryItem("OFTEN", Touch.BOUGHT, NOW - timedelta(days=40), units=10, orders=4),
    ]
    ranked = product_scores(history, {}, {}, set(), NOW, params)
    assert [r.sku for r in ranked] == ["OFTEN", "ONCE"]
    assert ranked[0].because == history[1]
    records = [
        ItemRecord("LAST_WEEK", last_bought_at=NOW - timedelta(days=5)),
        ItemRecord("THREE_WEEKS", last_bought_at=NOW - timedelta(days=21)),
    ]
    assert excluded_items(records, NOW, params.recent_purchase_days, 90) == {"LAST_WEEK"}


def test_buy_again_prefers_what_the_shop_re_orders() -> None:
    """Two lines this customer bought equally often: the staple that customers re-order
    (3 orders per buyer) comes before the one-off (nobody re-ordered it), by that factor."""
    params = ScoringParams(reorder_power=1.0, candidate_reorder_power=0.0)
    bought = NOW - timedelta(days=40)
    history = [
        HistoryItem("GIFT", Touch.BOUGHT, bought, units=5, orders=2),
        HistoryItem("STAPLE", Touch.BOUGHT, bought, units=5, orders=2),
    ]
    rates = reorder_rates({"GIFT": 40, "STAPLE": 120, "NEVER": 3}, {"GIFT": 40, "STAPLE": 40})
    assert rates == {"GIFT": 1.0, "STAPLE": 3.0}
    ranked = product_scores(history, {}, {}, set(), NOW, params, reorders=rates)
    assert [r.sku for r in ranked] == ["STAPLE", "GIFT"]
    assert math.isclose(ranked[0].score, 3 * ranked[1].score)
    # Unknown rates count as 1.0, and reorder_power 0 switches the factor off.
    plain = product_scores(history, {}, {}, set(), NOW, params)
    assert plain[0].score == plain[1].score == ranked[1].score
    off = ScoringParams(reorder_power=0.0, candidate_reorder_power=0.0)
    same = product_scores(history, {}, {}, set(), NOW, off, reorders=rates)
    assert same[0].score == same[1].score


def test_staples_lead_among_neighbours_and_popular_items_alike() -> None:
    """candidate_reorder_power: any candidate's score × its orders per buyer ** power, so of
    two equally similar neighbours (or equally popular items) the staple ranks first."""
    params = ScoringParams(candidate_reorder_power=1.0)
    history = [HistoryItem("LAMP", Touch.BOUGHT, NOW - timedelta(days=3))]
    anchors = {"LAMP": Anchor(10, [Neighbour("SHADE", 5, 10), Neighbour("BULB", 5, 10)])}
    popular = {"CARD": 1.0, "BAG": 1.0}
    rates = {"BULB": 2.0, "BAG": 4.0}
    similar_to = {sku: a.similar(params.shrink, params.neighbours) for sku, a in anchors.items()}
    ranked = product_scores(history, similar_to, popular, {"LAMP"}, NOW, params, reorders=rates)
    assert [r.sku for r in ranked] == ["BULB", "SHADE", "BAG", "CARD"]
    assert math.isclose(ranked[0].score, 2 * ranked[1].score)
    assert math.isclose(ranked[2].score, 4 * ranked[3].score)


def test_reach_puts_first_the_item_that_reaches_customers_the_others_do_not() -> None:
    # TEA and MUG go to the same regulars; BAG is bought by fewer, but by other customers.
    buyers = {"TEA": {1, 2, 3, 4}, "MUG": {1, 2, 3}, "BAG": {5, 6}, "CUP": {1}}
    # MUG and CUP reach nobody new: they follow, the most bought first, halving in worth
    assert by_reach(buyers) == {"TEA": 4.0, "BAG": 2.0, "MUG": 1.0, "CUP": 0.5}
    assert list(by_reach(buyers).values()) == sorted(by_reach(buyers).values(), reverse=True)
    # among equals: the most buyers first, then by sku
    assert list(by_reach({"B": {1}, "A": {1}, "C": {1, 2}, "D": {3}})) == ["C", "D", "A", "B"]
    assert by_reach({}) == {}


def test_a_limited_list_is_a_portfolio_not_ten_of_the_same() -> None:
    # After a tea set, its cups and saucers go together (similar to each other), the lamp is
    # a different bet. How alike two candidates are is known from the customer's history
    # items' neighbours only (the service reads those): here from CUPS, which they viewed.
    history = [
        HistoryItem("TEASET", Touch.BOUGHT, NOW - timedelta(days=30)),
        HistoryItem("CUPS", Touch.VIEWED, NOW - timedelta(days=60)),
    ]
    anchors = {
        "TEASET": Anchor(
            20, [Neighbour("CUPS", 12, 14), Neighbour("SAUCERS", 11, 14), Neighbour("LAMP", 6, 10)]
        ),
        "CUPS": Anchor(14, [Neighbour("SAUCERS", 13, 14)]),
    }
    plain, portfolio = ScoringParams(diversity=0.0), ScoringParams()
    similar_to = {sku: a.similar(plain.shrink, plain.neighbours) for sku, a in anchors.items()}

    def ranked(params: ScoringParams, limit: int | None, seen: int = 2) -> list[ScoredItem]:
        return product_scores(history[:seen], similar_to, {}, {"TEASET"}, NOW, params, limit=limit)

    def skus(items: list[ScoredItem]) -> list[str]:
        return [item.sku for item in items]

    # SAUCERS ≈ 0.61, CUPS ≈ 0.48, LAMP ≈ 0.22; CUPS and SAUCERS ≈ 0.67 alike, so CUPS after
    # SAUCERS is worth 0.48 × 0.33 ≈ 0.16: the lamp comes second.
    assert skus(ranked(plain, 3)) == ["SAUCERS", "CUPS", "LAMP"]
    diversified = ranked(portfolio, 3)
    assert skus(diversified) == ["SAUCERS", "LAMP", "CUPS"]
    assert skus(ranked(portfolio, 2)) == ["SAUCERS", "LAMP"]
    assert [r.score for r in diversified] == sorted((r.score for r in diversified), reverse=True)
    alike = cosine(13, 14, 14, plain.shrink)
    assert math.isclose(diversified[2].score, ranked(plain, 3)[1].score * (1 - alike))
    # an unlimited list is the plain order; without CUPS in the history nothing says they
    # are alike, and the list keeps the plain order
    assert skus(ranked(portfolio, None)) == ["SAUCERS", "CUPS", "LAMP"]
    assert skus(ranked(portfolio, 3, seen=1)) == skus(ranked(plain, 3, seen=1))
