"""Co-occurrence counts, in two steps: the fold records a batch's increments (one row), the
merger adds pending increments to item_pairs and deletes them in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_recommender.store.tables import pending_pairs


async def record(conn: AsyncConnection, pairs: Mapping[tuple[str, str, str], int]) -> None:
    """(kind, a, b) → how many more customers have both: one row, whatever the count."""
    if not pairs:
        return
    keys = sorted(pairs)
    await conn.execute(
        insert(pending_pairs).values(
            kinds=[k[0] for k in keys],
            a=[k[1] for k in keys],
            b=[k[2] for k in keys],
            together=[pairs[k] for k in keys],
        )
    )


# Summed per pair across the taken batches (a hot pair is one upsert, not one per batch) and
# sorted, so that two mergers lock item_pairs rows in the same order (no deadlock).
_MERGE = text(
    """
    WITH taken AS (
        DELETE FROM pending_pairs
        WHERE id IN (
            SELECT id FROM pending_pairs ORDER BY id LIMIT :batches FOR UPDATE SKIP LOCKED
        )
        RETURNING kinds, a, b, together
    ), increments AS (
        SELECT u.kind, u.a, u.b, u.together
        FROM taken, unnest(taken.kinds, taken.a, taken.b, taken.together) AS u(kind, a, b, together)
    )
    INSERT INTO item_pairs (kind, a, b, together)
    SELECT kind, a, b, sum(together) FROM increments GROUP BY kind, a, b ORDER BY kind, a, b
    ON CONFLICT (kind, a, b) DO UPDATE SET together = item_pairs.together + excluded.together
    """
)


async def merge(conn: AsyncConnection, batches: int) -> int:
    """Add up to `batches` pending rows to item_pairs; returns how many pairs changed."""
    result = await conn.execute(_MERGE, {"batches": batches})
    return int(result.rowcount or 0)


async def waiting(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT count(*) FROM pending_pairs")) or 0)
