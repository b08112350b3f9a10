"""The pair merger expands the fold's baskets in SQL: it must count exactly what the domain's
`fold.expand` counts (the evaluation's figures come from the domain code), summed over batches
and added to what item_pairs already holds."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from rapport_events.db import Database
from rapport_recommender.domain.fold import CoBasket, co_baskets, expand
from rapport_recommender.store import pairs

pytestmark = pytest.mark.integration


def walks(rng: random.Random, customers: int) -> list[CoBasket]:
    """Customers' baskets (bought and viewed) over a small catalogue, as the fold records them:
    repeats within a basket, items bought before, big and single-item baskets."""
    found: list[CoBasket] = []
    for _ in range(customers):
        history = [f"S{rng.randint(1, 40)}" for _ in range(rng.randint(0, 20))]
        baskets = [
            [f"S{rng.randint(1, 40)}" for _ in range(rng.choice((1, 1, 2, 5, 30)))]
            for _ in range(rng.randint(1, 4))
        ]
        found += co_baskets(rng.choice(("bought", "viewed")), history, baskets, window=15)
    return found


async def test_the_merger_adds_exactly_what_the_domain_expands(fresh_db: Database) -> None:
    rng = random.Random(7)
    batches = [walks(rng, 25) for _ in range(6)]
    async with fresh_db.transaction() as conn:
        await conn.execute(text("INSERT INTO item_pairs VALUES ('bought', 'S1', 'S2', 10)"))
        for baskets in batches:
            await pairs.record(conn, baskets)
    async with fresh_db.transaction() as conn:
        await pairs.merge(conn, 4)  # in two merges: sums across batches, then onto the first
        await pairs.merge(conn, 4)
        assert await pairs.waiting(conn) == 0
        rows = await conn.execute(text("SELECT kind, a, b, together FROM item_pairs"))
        merged = {(row.kind, row.a, row.b): row.together for row in rows}
    expected = expand(basket for baskets in batches for basket in baskets)
    expected[("bought", "S1", "S2")] += 10
    assert len(expected) > 1000
    assert merged == dict(expected)
