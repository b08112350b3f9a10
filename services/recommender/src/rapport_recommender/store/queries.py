"""Reads and writes of the recommender store, inside the caller's unit of work."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_recommender.store.tables import item_popularity, processed_events


async def mark_processed(conn: AsyncConnection, event_id: uuid.UUID) -> bool:
    result = await conn.execute(
        insert(processed_events)
        .values(event_id=event_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return result.first() is not None


async def add_purchases(conn: AsyncConnection, units: Counter[tuple[str, str | None]]) -> None:
    if not units:
        return
    # Sorted so that concurrent transactions lock rows in the same order (no deadlock).
    rows = [
        {"sku": sku, "name": name, "purchases": count}
        for (sku, name), count in sorted(units.items(), key=lambda kv: kv[0][0])
    ]
    statement = insert(item_popularity).values(rows)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[item_popularity.c.sku],
            set_={
                "purchases": item_popularity.c.purchases + statement.excluded.purchases,
                "name": statement.excluded.name,
            },
        )
    )


async def most_popular(conn: AsyncConnection, limit: int) -> list[tuple[str, str | None, int]]:
    rows = await conn.execute(
        select(item_popularity.c.sku, item_popularity.c.name, item_popularity.c.purchases)
        .order_by(item_popularity.c.purchases.desc(), item_popularity.c.sku)
        .limit(limit)
    )
    return [(row.sku, row.name, row.purchases) for row in rows]
