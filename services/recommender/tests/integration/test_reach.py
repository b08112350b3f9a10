"""The popular items' reach order, worked out by the re-ranking processes and read with the
catalogue: against real PostgreSQL (a database of its own, so the shop holds these items only).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rapport_events.db import Database
from rapport_recommender.handlers import fold
from rapport_recommender.rerank import refresh_reach
from rapport_recommender.store.reads import read_shop
from services.recommender.tests.integration.test_offers_rules import SETTINGS, order, tag

pytestmark = pytest.mark.integration


async def overall(db: Database) -> list[tuple[str, float]]:
    async with db.connection() as conn:
        return list((await read_shop(conn, 50)).overall.items())


async def test_popular_items_are_read_in_reach_order_once_it_is_worked_out(
    fresh_db: Database,
) -> None:
    t = tag()
    tea, mug, bag = f"{t}-TEA", f"{t}-MUG", f"{t}-BAG"
    # TEA and MUG go to the same regulars; BAG to fewer customers, but other ones.
    regulars = [order(f"r{i}-{t}@example.com", tea, mug) for i in range(3)]
    others = [order(f"o{i}-{t}@example.com", bag) for i in range(2)]
    await fold(fresh_db, SETTINGS, [*regulars, order(f"r3-{t}@example.com", tea), *others], [])
    assert await overall(fresh_db) == [(tea, 4.0), (mug, 3.0), (bag, 2.0)]  # most bought

    assert await refresh_reach(fresh_db, SETTINGS) == 1
    assert await overall(fresh_db) == [(tea, 4.0), (bag, 2.0), (mug, 1.0)]  # MUG: nobody new
    assert await refresh_reach(fresh_db, SETTINGS) == 0  # fresh: nothing to do

    # Due again: what was folded since counts (two more customers reached by MUG alone).
    await fold(fresh_db, SETTINGS, [order(f"m{i}-{t}@example.com", mug) for i in range(2)], [])
    due = SETTINGS.model_copy(update={"reach_refresh_seconds": 1e-6})
    assert await refresh_reach(fresh_db, due) == 1
    assert await overall(fresh_db) == [(mug, 5.0), (bag, 2.0), (tea, 1.0)]
    async with fresh_db.connection() as conn:
        columns = await conn.execute(text("SELECT * FROM popular_reach LIMIT 1"))
        assert set(columns.keys()) == {"sku", "reach", "refreshed_at"}  # counts, nobody's id


async def test_items_that_reach_nobody_new_keep_their_halving_worth(fresh_db: Database) -> None:
    """A small shop whose regular buys everything: one item reaches her, the others follow at
    half the worth of the one before. Stored as whole numbers they were all 0, worth nothing
    to a newcomer's offers, where the evaluation (in memory) kept all four."""
    t = tag()
    skus = [f"{t}-{name}" for name in ("A", "B", "C", "D")]
    await fold(fresh_db, SETTINGS, [order(f"regular-{t}@example.com", *skus)], [])
    due = SETTINGS.model_copy(update={"reach_refresh_seconds": 1e-6})
    assert await refresh_reach(fresh_db, due) == 1
    ours = [(sku, worth) for sku, worth in await overall(fresh_db) if sku in skus]
    assert ours == list(zip(skus, [1.0, 0.5, 0.25, 0.125], strict=True))
