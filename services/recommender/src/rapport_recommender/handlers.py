"""Use cases of the recommender: fold a batch of events; rank offers for a customer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_recommender.domain.popularity import purchased_units
from rapport_recommender.store import queries


async def fold_events(db: Database, events: Sequence[TouchpointEvent]) -> int:
    """Fold a batch in one transaction; idempotent by event id. Returns how many were new."""
    folded = 0
    units: Counter[tuple[str, str | None]] = Counter()
    async with db.transaction() as conn:
        for event in events:
            if await queries.mark_processed(conn, event.event_id):
                units.update(purchased_units(event))
                folded += 1
        await queries.add_purchases(conn, units)
    return folded
