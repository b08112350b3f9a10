"""A fresh recommender database per test module (real PostgreSQL, migrated to head)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rapport_events.db import Database
from rapport_recommender.store import MIGRATIONS
from support.fixtures import database_settings
from support.infra import Endpoints, create_database, drop_database


@pytest.fixture(scope="module")
async def fresh_db(infra: Endpoints) -> AsyncIterator[Database]:
    url = await create_database(infra.database_url, "recommender", MIGRATIONS)
    db = Database(database_settings(url))
    yield db
    await db.dispose()
    await drop_database(infra.database_url, url)
