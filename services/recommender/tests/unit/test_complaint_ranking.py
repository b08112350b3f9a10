"""An open complaint holds back every sales offer, so ranking such a customer scores no
products and reads no neighbours (the at-once lane ranks complaints: under load reading
their neighbours was most of its time)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

from rapport_recommender.domain.customer import (
    Card,
    CustomerState,
    ItemState,
    Market,
    Policy,
    next_best_offers,
)
from rapport_recommender.domain.offers import Kind
from rapport_recommender.domain.scoring import Anchor, Neighbour, ScoringParams, Similar

NOW = datetime(2011, 9, 1, tzinfo=UTC)
PARAMS = ScoringParams()


class Watched(Mapping[str, Similar]):
    """Neighbours that remember which skus were looked up."""

    def __init__(self, held: dict[str, Similar]) -> None:
        self.held = held
        self.asked: list[str] = []

    def __getitem__(self, sku: str) -> Similar:
        self.asked.append(sku)
        return self.held[sku]

    def __iter__(self) -> Iterator[str]:
        return iter(self.held)

    def __len__(self) -> int:
        return len(self.held)


def offers_of(state: CustomerState) -> tuple[set[Kind], list[str]]:
    similar = Anchor(10, [Neighbour("SHADE", 8, 9)]).similar(PARAMS.shrink, PARAMS.neighbours)
    neighbours = Watched({"LAMP": similar})
    market = Market(neighbours, {"POPULAR": 1.0}, {}, {}, {"SHADE": "Linen Shade"})
    offers = next_best_offers(
        state,
        Card(marketing_consent={"email": True, "web": True}),
        market,
        {},
        NOW,
        PARAMS,
        Policy(),
        salt="x",
    )
    return {offer.kind for offer in offers}, neighbours.asked


def test_an_open_complaint_ranks_without_products_or_neighbours() -> None:
    bought = [ItemState("LAMP", last_bought_at=NOW - timedelta(days=40), units=1, orders=1)]
    calm = CustomerState(items=bought)
    kinds, asked = offers_of(calm)
    assert Kind.PRODUCT in kinds
    assert asked == ["LAMP"]
    upset = CustomerState(items=bought, complaints=[("CASE-1", NOW - timedelta(hours=1), None)])
    kinds, asked = offers_of(upset)
    assert kinds == {Kind.SERVICE_RECOVERY}
    assert asked == []
