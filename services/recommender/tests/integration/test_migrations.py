"""The recommender's migrations and its tables in code describe the same schema."""

from __future__ import annotations

import asyncio

import pytest

from rapport_recommender.store import MIGRATIONS
from support.fixtures import Databases
from support.infra import assert_schema_matches_tables

pytestmark = pytest.mark.integration


async def test_migrated_schema_matches_the_tables_in_code(databases: Databases) -> None:
    await asyncio.to_thread(assert_schema_matches_tables, MIGRATIONS, databases.recommender)
