"""Each customer's ranked offers as the re-ranker last ranked them (`ranked_offers`): what
GET offers answers with, in one indexed read by any id of the customer.

Only the re-ranker writes a ranking, in the transaction that settles the customer's stale mark
(so a ranking never overwrites a newer one); merges and erasures delete it with the mark
(`stale.forget`); a ranking that time alone has made wrong is queued again (`stale.queue_due`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_recommender.store.tables import ranked_offers

r = ranked_offers.c


@dataclass(frozen=True, slots=True)
class Ranking:
    profile_id: uuid.UUID
    offers: bytes  # the JSON list GET offers answers with, best first
    ranked_at: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Held:
    """What the store holds for a requested id: its survivor and the survivor's ranking."""

    survivor: uuid.UUID
    offers: bytes | None  # None: never ranked (or merged away, or erased)
    valid_until: datetime | None  # None: being ranked again
    stale: bool  # a fold (or time) asked for a new ranking that has not been written yet

    def serves(self, now: datetime) -> bytes | None:
        """The stored offers if they are still right at `now`, else None (rank live)."""
        if self.offers is None or self.stale or self.valid_until is None:
            return None
        return self.offers if now < self.valid_until else None


# By any id of a customer: its survivor (itself unless merged away), the survivor's ranking and
# whether it is marked stale. Raw SQL on a `Database.reader()` connection: GET offers' one read.
HELD = """
SELECT s.id AS survivor, r.offers, r.valid_until, st.profile_id IS NOT NULL AS stale
FROM (SELECT coalesce((SELECT survivor_id FROM profile_links WHERE profile_id = $1), $1) AS id) s
LEFT JOIN ranked_offers r ON r.profile_id = s.id
LEFT JOIN stale_offers st ON st.profile_id = s.id
"""


async def held(conn: asyncpg.Connection, profile_id: uuid.UUID) -> Held:
    """One query: the survivor of any id of a customer, its ranking and whether it is stale."""
    row = await conn.fetchrow(HELD, profile_id)
    return Held(row["survivor"], row["offers"], row["valid_until"], row["stale"])


async def warm(conn: asyncpg.Connection) -> None:
    """Prepare the hot read once on a new pooled connection (`Database(reads_init=...)`), so
    that no request pays a fresh backend's planning and catalog loads."""
    await held(conn, uuid.UUID(int=0))


_RANKING = insert(ranked_offers)
_SAVE = _RANKING.on_conflict_do_update(
    index_elements=[r.profile_id],
    set_={
        "offers": _RANKING.excluded.offers,
        "ranked_at": _RANKING.excluded.ranked_at,
        "valid_until": _RANKING.excluded.valid_until,
    },
)


async def save(conn: AsyncConnection, rankings: Iterable[Ranking]) -> None:
    values = [
        {
            "profile_id": x.profile_id,
            "offers": x.offers,
            "ranked_at": x.ranked_at,
            "valid_until": x.valid_until,
        }
        for x in sorted(rankings, key=lambda x: x.profile_id)
    ]
    if values:
        # One statement built once, the rows as its parameters (SQLAlchemy sends them as one
        # multi-row INSERT): a VALUES clause composed per call cost more Python than the write.
        await conn.execute(_SAVE, values)


async def forget(conn: AsyncConnection, profile_ids: Sequence[uuid.UUID]) -> None:
    if profile_ids:
        await conn.execute(delete(ranked_offers).where(r.profile_id.in_(sorted(profile_ids))))


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[uuid.UUID]:
    """Customers whose ranking time has made wrong (oldest first)."""
    rows = await conn.execute(
        select(r.profile_id).where(r.valid_until <= now).order_by(r.valid_until).limit(limit)
    )
    return sorted(rows.scalars())


async def queued(conn: AsyncConnection, profile_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """These rankings are being done again: not served, not found due again meanwhile."""
    if profile_ids:
        await conn.execute(
            update(ranked_offers)
            .where(r.profile_id.in_(sorted(profile_ids)), r.valid_until <= now)
            .values(valid_until=None)
        )


async def count(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(ranked_offers)) or 0)
