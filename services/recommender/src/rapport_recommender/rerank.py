"""Use case: rank again the customers the fold marked stale, and queue the best offers that
changed (the outbox) — a bounded chunk per call, several re-rankers sharing the queue.

Three short units of work, none holding a lock while it ranks: claim a chunk (a lease),
rank it from committed state, then settle: write what is still ours to write and clear the
marks no fold renewed meanwhile. A crash anywhere loses nothing: the marks stay until settled,
and an abandoned lease runs out (`rerank_lease_seconds`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from rapport_events.db import Database
from rapport_recommender.handlers import offers_for_many, record_best
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import stale


async def rerank_stale(db: Database, settings: RecommenderSettings) -> int:
    """Rank one chunk of stale customers; returns how many were claimed (0: none waiting)."""
    token = uuid.uuid4()
    async with db.transaction() as conn:
        claimed = await stale.claim(
            conn, token, settings.rerank_chunk, timedelta(seconds=settings.rerank_lease_seconds)
        )
    if not claimed:
        return 0
    async with db.connection() as conn:
        survivor_of, ranked = await offers_for_many(conn, settings, claimed)
    async with db.transaction() as conn:
        held = await stale.settle(conn, token, claimed)
        # A merged-away id is dropped: the merge marked its survivor, ranked under its own id.
        mine = [pid for pid in claimed if pid in held and survivor_of[pid] == pid]
        await record_best(conn, ranked, mine)
    return len(claimed)
