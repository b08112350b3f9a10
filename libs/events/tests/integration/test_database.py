"""The session settings every service connection carries (`rapport_events.db.SERVER_SETTINGS`)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rapport_events.db import Database

pytestmark = pytest.mark.integration


async def test_every_kind_of_connection_runs_without_jit(profile_db: Database) -> None:
    """JIT compiling cost the pair merge two thirds of its time: no connection may have it,
    whichever way a unit of work takes one."""
    async with profile_db.transaction() as conn:
        assert await conn.scalar(text("SHOW jit")) == "off"
    async with profile_db.connection() as conn:
        assert await conn.scalar(text("SHOW jit")) == "off"
    async with profile_db.reader() as reader:
        assert await reader.fetchval("SHOW jit") == "off"
