"""Erasure: what the store keeps of an erased customer is a date and hashed identifiers."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from rapport_events.identity import identifier_hash
from rapport_profile.domain.identity_graph import Identifier


async def erase(
    db: asyncpg.Connection, profile_id: uuid.UUID, now: datetime
) -> tuple[uuid.UUID, list[uuid.UUID], list[Identifier]] | None:
    """Delete the customer's profile, identities and history; leave tombstones so the fold
    keeps ignoring their identifiers, and an erasure record per profile id. None: unknown."""
    survivor = await db.fetchval(
        "SELECT coalesce(merged_into, profile_id) FROM profiles WHERE profile_id = $1 FOR UPDATE",
        profile_id,
    )
    if survivor is None:
        return None
    await db.execute("SELECT 1 FROM profiles WHERE profile_id = $1 FOR UPDATE", survivor)
    merged_ids = [
        row["profile_id"]
        for row in await db.fetch(
            "SELECT profile_id FROM profiles WHERE merged_into = $1 ORDER BY profile_id", survivor
        )
    ]
    identifiers: list[Identifier] = [
        (row["kind"], row["value"])
        for row in await db.fetch(
            "DELETE FROM identities WHERE profile_id = $1 RETURNING kind, value", survivor
        )
    ]
    await db.execute(
        "INSERT INTO tombstones (identifier_hash, erased_at) SELECT unnest($1::text[]), $2 "
        "ON CONFLICT (identifier_hash) DO UPDATE SET erased_at = excluded.erased_at",
        [identifier_hash(*pair) for pair in identifiers],
        now,
    )
    await db.execute("DELETE FROM interactions WHERE profile_id = $1", survivor)
    await db.execute("DELETE FROM profiles WHERE profile_id = $1 OR merged_into = $1", survivor)
    await db.execute(
        "INSERT INTO erasures (profile_id, erased_at) SELECT unnest($1::uuid[]), $2 "
        "ON CONFLICT DO NOTHING",
        [survivor, *merged_ids],
        now,
    )
    return survivor, merged_ids, identifiers
