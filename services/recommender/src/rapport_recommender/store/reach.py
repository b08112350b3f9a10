"""The popular items in reach order (`domain.reach`), kept in `popular_reach` and redone on a
schedule: greedy coverage reads every buyer of the most bought items, too much for each
ranking, while the order moves slowly. Counts only: nobody's identity is kept here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# hashtext(subject): an int per buyer instead of a 64-character string, so that the buyers of
# 50 best-sellers of a large shop (hundreds of thousands) fit in a few MB; a collision only
# blurs the count of one customer.
_BUYERS = text(
    """
    WITH top AS (
        SELECT sku FROM items WHERE buyers > 0 ORDER BY buyers DESC, sku LIMIT :popular
    )
    SELECT top.sku, array_agg(hashtext(ci.subject)) AS buyers
    FROM top JOIN customer_items ci ON ci.sku = top.sku AND ci.last_bought_at IS NOT NULL
    GROUP BY top.sku
    """
)
_LAST = text("SELECT max(refreshed_at) FROM popular_reach")
_CLEAR = text("DELETE FROM popular_reach")
_INSERT = text(
    "INSERT INTO popular_reach (sku, reach, refreshed_at)"
    " SELECT unnest(CAST(:skus AS text[])), unnest(CAST(:reach AS float8[])), :at"
)
# One refresh at a time across replicas; the others find it fresh afterwards.
_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('rapport_recommender.popular_reach'))")


async def refreshed_at(conn: AsyncConnection) -> datetime | None:
    found: datetime | None = await conn.scalar(_LAST)
    return found


async def lock(conn: AsyncConnection) -> bool:
    """Whether this transaction may refresh (no other is at it)."""
    return bool(await conn.scalar(_LOCK))


async def buyers_of_top(conn: AsyncConnection, popular: int) -> dict[str, list[int]]:
    """The `popular` most bought items → their buyers (hashed)."""
    rows = await conn.execute(_BUYERS, {"popular": popular})
    return {row.sku: row.buyers for row in rows}


async def replace(conn: AsyncConnection, reach: Mapping[str, float], at: datetime) -> None:
    await conn.execute(_CLEAR)
    if reach:
        await conn.execute(_INSERT, {"skus": list(reach), "reach": list(reach.values()), "at": at})
