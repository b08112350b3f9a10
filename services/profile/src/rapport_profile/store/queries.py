"""Reads and writes of the profile store. Every function takes the open connection of the
caller's unit of work, so that a whole batch commits or rolls back together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_events.identity import IdentityKind
from rapport_profile.store.tables import identities, interactions, processed_events, profiles


async def mark_processed(conn: AsyncConnection, event_id: uuid.UUID) -> bool:
    """Record an event as folded; False if it already was (a redelivery or a re-post)."""
    result = await conn.execute(
        insert(processed_events)
        .values(event_id=event_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return result.first() is not None


async def survivor_of(conn: AsyncConnection, profile_id: uuid.UUID) -> uuid.UUID | None:
    """Follow merges to the surviving profile; None if the id is unknown."""
    current: uuid.UUID | None = profile_id
    for _ in range(32):  # merge chains are short; the bound guards against a cycle
        row = (
            await conn.execute(
                select(profiles.c.profile_id, profiles.c.merged_into).where(
                    profiles.c.profile_id == current
                )
            )
        ).first()
        if row is None:
            return None
        if row.merged_into is None:
            return uuid.UUID(str(row.profile_id))
        current = row.merged_into
    return current


async def resolve_profile(
    conn: AsyncConnection, pairs: Sequence[tuple[IdentityKind, str]], seen_at: datetime
) -> uuid.UUID:
    """The profile an event's identifiers point to, created if none does."""
    rows = (
        await conn.execute(
            select(identities.c.profile_id).where(
                identities.c.kind.in_([kind.value for kind, _ in pairs]),
                identities.c.value.in_([value for _, value in pairs]),
            )
        )
    ).all()
    found = {row.profile_id for row in rows}
    if found:
        profile_id = await survivor_of(conn, sorted(found)[0]) or sorted(found)[0]
    else:
        profile_id = uuid.uuid4()
        await conn.execute(insert(profiles).values(profile_id=profile_id, first_seen=seen_at))
    await conn.execute(
        insert(identities)
        .values(
            [
                {"kind": kind.value, "value": value, "profile_id": profile_id}
                for kind, value in pairs
            ]
        )
        .on_conflict_do_nothing()
    )
    return profile_id


async def add_interaction(
    conn: AsyncConnection,
    profile_id: uuid.UUID,
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    channel: str,
    type_: str,
    summary: str,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        insert(interactions)
        .values(
            profile_id=profile_id,
            occurred_at=occurred_at,
            event_id=event_id,
            channel=channel,
            type=type_,
            summary=summary,
            details=details,
        )
        .on_conflict_do_nothing()
    )


async def lookup(conn: AsyncConnection, kind: IdentityKind, value: str) -> uuid.UUID | None:
    row = (
        await conn.execute(
            select(identities.c.profile_id).where(
                identities.c.kind == kind.value, identities.c.value == value
            )
        )
    ).first()
    return None if row is None else await survivor_of(conn, row.profile_id)


async def timeline(
    conn: AsyncConnection,
    profile_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    query = select(interactions).where(interactions.c.profile_id == profile_id)
    if before is not None:
        query = query.where(
            (interactions.c.occurred_at, interactions.c.event_id) < before  # type: ignore[operator]
        )
    query = query.order_by(interactions.c.occurred_at.desc(), interactions.c.event_id.desc()).limit(
        limit
    )
    return [dict(row._mapping) for row in await conn.execute(query)]
