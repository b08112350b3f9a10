"""Use cases of the profile service: fold a batch of events; read a customer.

Each use case opens one unit of work. HTTP routes and the Kafka consumer both call these.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_profile.domain.summary import summarize
from rapport_profile.store import queries


async def fold_events(db: Database, events: Sequence[TouchpointEvent]) -> int:
    """Fold a batch in one transaction; returns how many were new. Idempotent by event id."""
    folded = 0
    async with db.transaction() as conn:
        for event in events:
            if not await queries.mark_processed(conn, event.event_id):
                continue
            when = event.effective_time
            profile_id = await queries.resolve_profile(conn, event.identity.pairs(), when)
            await queries.add_interaction(
                conn,
                profile_id,
                event_id=event.event_id,
                occurred_at=when,
                channel=event.channel,
                type_=event.type,
                summary=summarize(event),
                details=event.properties.model_dump(mode="json", exclude_none=True),
            )
            folded += 1
    return folded
