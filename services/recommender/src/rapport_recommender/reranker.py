"""The re-ranker: a background task beside the consumer that drains the stale-offers queue
and publishes the best offers that changed.

Woken by the consumer right after each fold commits (no polling delay on the way from an
event to its offer); it also looks every `rerank_poll_seconds` for marks left by other
replicas or by an instance that stopped, since the marks live in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from prometheus_client import Counter

from rapport_events.db import Database, is_transient
from rapport_events.kafka import Publisher
from rapport_events.observability import get_logger
from rapport_recommender.handlers import publish_changed_offers
from rapport_recommender.rerank import rerank_stale
from rapport_recommender.settings import RecommenderSettings

log = get_logger(__name__)
RERANKED = Counter("rapport_recommender_reranked_total", "customers ranked again")
MAX_BACKOFF_SECONDS = 5.0


class Reranker:
    def __init__(self, settings: RecommenderSettings, db: Database, publisher: Publisher) -> None:
        self._settings = settings
        self._db = db
        self._publisher = publisher
        self._woken = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """A fold has committed: there may be customers to rank again."""
        self._woken.set()

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            self._woken.clear()  # before looking: a wake from now on means another look
            try:
                claimed = await rerank_stale(self._db, self._settings)
                RERANKED.inc(claimed)
                # The outbox keeps what fails to go out for the next round (or instance).
                await publish_changed_offers(
                    self._db, self._publisher, self._settings.kafka.topics.offers
                )
                backoff = 0.2
            except Exception as error:
                # Whatever failed, the marks and the outbox still hold the work: wait, retry.
                level = log.warning if is_transient(error) else log.error
                level("rerank_failed", error=type(error).__name__, detail=str(error)[:200])
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if not claimed:
                await self._pause(self._settings.rerank_poll_seconds)

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)


@asynccontextmanager
async def reranking(reranker: Reranker | None, grace_seconds: float = 20) -> AsyncIterator[None]:
    """Run the re-ranker beside the API; on the way out let the chunk in hand settle."""
    if reranker is None:
        yield
        return
    task = asyncio.create_task(reranker.run())
    try:
        yield
    finally:
        reranker.stop()
        try:
            await asyncio.wait_for(task, grace_seconds)
        except TimeoutError:
            log.error("reranker_stop_timeout", grace_seconds=grace_seconds)
