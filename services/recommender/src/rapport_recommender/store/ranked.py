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

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from rapport_recommender.store.tables import profile_links, ranked_offers, stale_offers

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


async def held(conn: AsyncConnection, profile_id: uuid.UUID) -> Held:
    """One query: the survivor of any id of a customer, its ranking and whether it is stale."""
    requested = bindparam("pid", value=profile_id, type_=Uuid)
    link = (
        select(profile_links.c.survivor_id)
        .where(profile_links.c.profile_id == requested)
        .scalar_subquery()
    )
    survivor = select(func.coalesce(link, requested).label("id")).subquery("survivor")
    row = (
        await conn.execute(
            select(
                survivor.c.id,
                r.offers,
                r.valid_until,
                stale_offers.c.profile_id.is_not(None).label("stale"),
            ).select_from(
                survivor.outerjoin(ranked_offers, r.profile_id == survivor.c.id).outerjoin(
                    stale_offers, stale_offers.c.profile_id == survivor.c.id
                )
            )
        )
    ).one()
    return Held(row.id, row.offers, row.valid_until, bool(row.stale))


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
    if not values:
        return
    stmt = insert(ranked_offers).values(values)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[r.profile_id],
            set_={
                "offers": stmt.excluded.offers,
                "ranked_at": stmt.excluded.ranked_at,
                "valid_until": stmt.excluded.valid_until,
            },
        )
    )


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
