"""The read side of the store: resolve an id or identifier, the card, the timeline.

Each function takes an open connection; the card is three indexed look-ups.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_profile.domain.profile import ProfileState
from rapport_profile.store.state_codec import from_row
from rapport_profile.store.tables import erasures, identities, interactions, profiles


async def resolve(
    conn: AsyncConnection, profile_id: uuid.UUID
) -> tuple[uuid.UUID | None, datetime | None]:
    """(surviving profile id, None) for a live id, (None, erased_at) for an erased one,
    (None, None) for an unknown one."""
    survivor = (
        select(func.coalesce(profiles.c.merged_into, profiles.c.profile_id))
        .where(profiles.c.profile_id == profile_id)
        .scalar_subquery()
    )
    erased = select(erasures.c.erased_at).where(erasures.c.profile_id == profile_id)
    row = (await conn.execute(select(survivor, erased.scalar_subquery()))).one()
    # A live profile wins over an erasure record: a customer who came back after erasure
    # (new events, a new profile) may get the same derived id again.
    return (row[0], None) if row[0] is not None else (None, row[1])


async def lookup(conn: AsyncConnection, kind: str, value: str) -> uuid.UUID | None:
    found = await conn.execute(
        select(identities.c.profile_id).where(
            identities.c.kind == kind, identities.c.value == value
        )
    )
    return found.scalar_one_or_none()


async def profile(conn: AsyncConnection, profile_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(profiles).where(profiles.c.profile_id == profile_id))).first()
    return None if row is None else dict(row._mapping)


def state_of(row: dict[str, Any]) -> ProfileState:
    return from_row(row)


async def identifiers_of(conn: AsyncConnection, profile_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await conn.execute(
        select(identities.c.kind, identities.c.value)
        .where(identities.c.profile_id == profile_id)
        .order_by(identities.c.kind, identities.c.value)
    )
    return [(row.kind, row.value) for row in rows]


async def merged_into(conn: AsyncConnection, profile_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.execute(
        select(profiles.c.profile_id)
        .where(profiles.c.merged_into == profile_id)
        .order_by(profiles.c.profile_id)
    )
    return [row.profile_id for row in rows]


async def timeline(
    conn: AsyncConnection,
    profile_id: uuid.UUID,
    *,
    limit: int | None,
    before: tuple[datetime, uuid.UUID] | None = None,
    channel: str | None = None,
    type_: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first; keyset on (occurred_at, event_id), so pages are stable under inserts."""
    query = select(
        interactions.c.event_id,
        interactions.c.occurred_at,
        interactions.c.channel,
        interactions.c.type,
        interactions.c.summary,
        interactions.c.details,
    ).where(interactions.c.profile_id == profile_id)
    if before is not None:
        query = query.where(tuple_(interactions.c.occurred_at, interactions.c.event_id) < before)
    if channel is not None:
        query = query.where(interactions.c.channel == channel)
    if type_ is not None:
        query = query.where(interactions.c.type == type_)
    query = query.order_by(interactions.c.occurred_at.desc(), interactions.c.event_id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in await conn.execute(query)]
