"""The recommender's migrations and its tables in code describe the same schema."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command
from alembic.config import Config

from rapport_events.db import Database
from rapport_recommender.store import MIGRATIONS, pairs
from support.fixtures import Databases, database_settings
from support.infra import assert_schema_matches_tables, create_database, drop_database

pytestmark = pytest.mark.integration


async def test_migrated_schema_matches_the_tables_in_code(databases: Databases) -> None:
    await asyncio.to_thread(assert_schema_matches_tables, MIGRATIONS, databases.recommender)


async def test_pair_increments_waiting_at_0003_survive_the_move_to_baskets(
    databases: Databases,
) -> None:
    """0004 converts waiting rows: a pair a < b counted n times becomes n baskets, and the
    merger adds them both ways as before."""
    url = await create_database(databases.recommender, "recmig", None)
    try:
        await asyncio.to_thread(_upgrade, url, "0003")
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute(
                "INSERT INTO pending_pairs (kinds, a, b, together) VALUES"
                " ('{bought,bought,viewed,viewed}', '{A,B,A,C}', '{B,A,C,A}', '{2,2,1,1}')"
            )
            await asyncio.to_thread(_upgrade, url, "head")
            db = Database(database_settings(url))
            try:
                async with db.transaction() as tx:
                    await pairs.merge(tx, 10)
            finally:
                await db.dispose()
            found = await conn.fetch("SELECT kind, a, b, together FROM item_pairs ORDER BY 1, 2, 3")
            assert [tuple(row) for row in found] == [
                ("bought", "A", "B", 2),
                ("bought", "B", "A", 2),
                ("viewed", "A", "C", 1),
                ("viewed", "C", "A", 1),
            ]
        finally:
            await conn.close()
    finally:
        await drop_database(databases.recommender, url)


def _upgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)
