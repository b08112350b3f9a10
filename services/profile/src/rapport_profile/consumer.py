"""The Kafka entry point of the profile service: decode, fold, commit the offsets after the
fold's transaction; the fold's changes are relayed to their topic beside it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_events.kafka import ConsumerLoop, Publisher
from rapport_events.observability import get_logger
from rapport_events.runtime import touchpoint_consumer
from rapport_events.settings import KafkaSettings
from rapport_profile.handlers import FoldResult, fold_events, publish_changes
from rapport_profile.settings import ProfileSettings
from rapport_profile.store.state_cache import ProfileCache

log = get_logger(__name__)

# The fold allocates some hundred objects per event and keeps thousands of profiles in its
# cache: with the interpreter's default thresholds (700, 10, 10) the collector ran a full
# collection over the cache every few batches, about 40% of the fold's CPU in
# `bench/profile_fold.py`. Young collections stay frequent enough to reclaim cycles early;
# full ones come every ~10^8 allocations (about once a minute at full speed).
FOLD_GC_THRESHOLDS = (100_000, 50, 20)


class ChangeRelay:
    """Publishes each committed batch's changes in the background, in commit order, while the
    consumer commits its offsets and folds the next batch: the Kafka acknowledgement and the
    outbox clean-up stay off the path from an event to its fold (freshness). The changes are
    in the outbox already; whatever this has not published when the process stops is
    published by the outbox drain, as after a crash."""

    def __init__(self, db: Database, publisher: Publisher, topic: str, depth: int = 4) -> None:
        self._db, self._publisher, self._topic = db, publisher, topic
        # Bounded: a broker slower than the fold holds the fold back instead of memory growing.
        self._queue: asyncio.Queue[FoldResult] = asyncio.Queue(maxsize=depth)
        self._task: asyncio.Task[None] | None = None

    async def submit(self, result: FoldResult) -> None:
        if not result.changes:
            return
        await self._queue.put(result)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        # Ends when there is nothing left to publish; the next submit starts it again.
        while not self._queue.empty():
            result = self._queue.get_nowait()
            try:
                await publish_changes(
                    self._db,
                    self._publisher,
                    self._topic,
                    result.batch_id,
                    result.changes,
                    result.payloads,
                )
            except Exception as error:  # the rows stay in the outbox for the drain
                log.warning("profile_changes_relay_failed", error=type(error).__name__)
            finally:
                self._queue.task_done()


def build_consumer(
    settings: ProfileSettings,
    db: Database,
    publisher: Publisher,
    *,
    group_id: str | None = None,
    cache: ProfileCache | None = None,
) -> ConsumerLoop[TouchpointEvent]:
    """The fold's consumer; `cache` is shared with the API of the same process (its erasures
    drop their entries), a fresh one by default."""
    cache = cache if cache is not None else ProfileCache(settings.state_cache_size)
    gc.set_threshold(*FOLD_GC_THRESHOLDS)
    relay = ChangeRelay(db, publisher, settings.kafka.topics.profile_changes)

    async def fold(events: Sequence[TouchpointEvent]) -> None:
        await relay.submit(await fold_events(db, events, cache=cache))

    return touchpoint_consumer(
        settings.kafka,
        group_id=group_id or settings.consumer_group,
        fold=fold,
        dead_letters=publisher,
        max_batch=settings.max_batch,
    )


async def topic_size(settings: KafkaSettings, topic: str) -> int:
    """Records currently held in a topic (end minus beginning offsets, all partitions)."""
    consumer = AIOKafkaConsumer(**settings.client_options())
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, partition) for partition in partitions]
        if not tps:
            return 0
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()
