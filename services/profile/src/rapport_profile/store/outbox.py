"""The outbox: profile changes written in the same transaction as the state they describe,
published after commit, deleted once Kafka acknowledged them. A crash between the commit and
the publish leaves the rows here; the drain publishes them later (at least once)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

OutboxRow = tuple[uuid.UUID, uuid.UUID, bytes]  # batch id, profile id (the key), payload


async def add(db: asyncpg.Connection, rows: Sequence[OutboxRow]) -> None:
    if rows:
        await db.copy_records_to_table(
            "profile_outbox", records=rows, columns=["batch_id", "profile_id", "payload"]
        )


async def forget_batch(db: asyncpg.Connection, batch_id: uuid.UUID) -> None:
    """Delete a published batch's rows. Their deletion need not wait for the disk: if a crash
    loses it, the rows are published once more, which the outbox allows anyway (at least
    once), and the fold saves an fsync per batch."""
    await db.execute("SET LOCAL synchronous_commit = off")
    await db.execute("DELETE FROM profile_outbox WHERE batch_id = $1", batch_id)


async def claim_leftovers(
    db: asyncpg.Connection, *, older_than_s: float, limit: int
) -> list[asyncpg.Record]:
    """The oldest rows nobody is publishing right now (locked until the caller's transaction
    ends; a concurrent drain skips them)."""
    return list(
        await db.fetch(
            "SELECT id, profile_id, payload FROM profile_outbox "
            "WHERE created_at <= now() - make_interval(secs => $1) "
            "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            older_than_s,
            limit,
        )
    )


async def delete(db: asyncpg.Connection, ids: Sequence[int]) -> None:
    await db.execute("DELETE FROM profile_outbox WHERE id = ANY($1::bigint[])", list(ids))


async def pending(db: asyncpg.Connection) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM profile_outbox")
    return count
