"""Co-occurrence counts, in two steps: the fold records a batch's increments (one row), the
merger adds pending increments to item_pairs and deletes them in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_events.codec import encode_json
from rapport_recommender.domain.fold import CoBasket

_RECORD = text("INSERT INTO pending_pairs (payload) VALUES (CAST(:payload AS json))")


async def record(conn: AsyncConnection, baskets: Sequence[CoBasket]) -> None:
    """A batch's co-occurrence increments as its unexpanded baskets: one row, one JSON string
    (encoded in C; an array parameter costs a Python type check per element in the driver)."""
    if baskets:
        payload = [[b.kind, b.fresh, b.recent] for b in baskets]
        await conn.execute(_RECORD, {"payload": encode_json(payload).decode()})


# Expands the baskets as `fold.expand` does (fresh × recent both ways, fresh × other fresh;
# the two never share a sku), sums per pair across the taken batches (a hot pair is one
# upsert, not one per batch) and sorts, so that two mergers lock item_pairs rows in the same
# order (no deadlock). The batches are chosen in a CTE of their own, which runs once: as an
# IN (subquery) the planner may run the LIMIT again and take more than `batches`.
_MERGE = text(
    """
    WITH chosen AS (
        SELECT id FROM pending_pairs ORDER BY id LIMIT :batches FOR UPDATE SKIP LOCKED
    ), taken AS (
        DELETE FROM pending_pairs USING chosen WHERE pending_pairs.id = chosen.id
        RETURNING payload
    ), baskets AS (
        SELECT row_number() OVER () AS n, e->>0 AS kind, e->1 AS fresh, e->2 AS recent
        FROM taken, json_array_elements(taken.payload) AS e
    ), fresh AS (
        SELECT n, kind, f AS sku FROM baskets, json_array_elements_text(baskets.fresh) AS f
    ), recent AS (
        SELECT n, r AS sku FROM baskets, json_array_elements_text(baskets.recent) AS r
    ), increments AS (
        SELECT f.kind, f.sku AS a, r.sku AS b FROM fresh f JOIN recent r ON r.n = f.n
        UNION ALL
        SELECT f.kind, r.sku, f.sku FROM fresh f JOIN recent r ON r.n = f.n
        UNION ALL
        SELECT f.kind, f.sku, g.sku FROM fresh f JOIN fresh g ON g.n = f.n AND g.sku <> f.sku
    )
    INSERT INTO item_pairs (kind, a, b, together)
    SELECT kind, a, b, count(*) FROM increments GROUP BY kind, a, b ORDER BY kind, a, b
    ON CONFLICT (kind, a, b) DO UPDATE SET together = item_pairs.together + excluded.together
    """
)


async def merge(conn: AsyncConnection, batches: int) -> int:
    """Add up to `batches` pending rows to item_pairs; returns how many pairs changed."""
    result = await conn.execute(_MERGE, {"batches": batches})
    return int(result.rowcount or 0)


async def waiting(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT count(*) FROM pending_pairs")) or 0)
