"""Profile test helpers: events built the way ingest publishes them, and a fresh database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent, parse_event
from support.fixtures import database_settings
from support.infra import Endpoints, create_database, drop_database

EventFactory = Callable[..., TouchpointEvent]


def build_event(
    type_: str,
    identity: dict[str, str],
    properties: dict[str, Any] | None = None,
    *,
    channel: str = "web",
    at: datetime | None = None,
    context: dict[str, Any] | None = None,
    event_id: uuid.UUID | None = None,
) -> TouchpointEvent:
    when = at or datetime.now(UTC)
    return parse_event(
        {
            "event_id": str(event_id or uuid.uuid4()),
            "type": type_,
            "channel": channel,
            "occurred_at": when.isoformat(),
            "timestamp": when.isoformat(),
            "identity": identity,
            "properties": properties or {},
            "context": context or {},
        }
    )


@pytest.fixture
def make_event() -> EventFactory:
    return build_event


@pytest.fixture
async def fresh_db(infra: Endpoints) -> AsyncIterator[Database]:
    """A database of this test's own, migrated (for tests that truncate or count globally)."""
    from rapport_profile.store import MIGRATIONS

    url = await create_database(infra.database_url, "profile", MIGRATIONS)
    db = Database(database_settings(url))
    yield db
    await db.dispose()
    await drop_database(infra.database_url, url)
