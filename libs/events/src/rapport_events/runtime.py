"""Running a service's background work beside its HTTP API, with a graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from rapport_events.codec import decode_event
from rapport_events.db import Database, is_transient
from rapport_events.envelope import TouchpointEvent
from rapport_events.kafka.consumer import ConsumerLoop, Delivered
from rapport_events.kafka.lag import GroupLag
from rapport_events.kafka.producer import Publisher
from rapport_events.observability import get_logger
from rapport_events.service import stop_failed_process
from rapport_events.settings import KafkaSettings

log = get_logger(__name__)


@asynccontextmanager
async def _beside(work: Coroutine[Any, Any, object]) -> AsyncIterator[None]:
    """Run `work` in the background while the block runs; cancel it on the way out."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def connected(publisher: Publisher) -> AsyncIterator[None]:
    """Keep connecting the publisher in the background; flush and close it on the way out."""
    try:
        async with _beside(publisher.connect()):
            yield
    finally:
        await publisher.stop()


@asynccontextmanager
async def reading(db: Database) -> AsyncIterator[None]:
    """Open the database's `reader()` pool whole in the background (see `open_reads`): a
    database still down at start-up must not hold the process back (the first read then opens
    it)."""
    opening = asyncio.create_task(db.open_reads())
    opening.add_done_callback(_reads_opened)
    try:
        yield
    finally:
        opening.cancel()
        with suppress(asyncio.CancelledError):
            await opening


def _reads_opened(opening: asyncio.Task[object]) -> None:
    if not opening.cancelled() and (error := opening.exception()) is not None:
        # Retrieved here, so asyncio does not report it as never retrieved.
        log.warning("read_pool_not_opened", error=type(error).__name__)


@asynccontextmanager
async def watching(lag: GroupLag | None) -> AsyncIterator[None]:
    """Keep measuring a consumer group's lag in the background (`GroupLag.behind`)."""
    if lag is None:
        yield
        return
    async with _beside(lag.watch()):
        yield


@asynccontextmanager
async def consuming(
    loop: ConsumerLoop[Any] | None, grace_seconds: float = 20
) -> AsyncIterator[None]:
    """Run a consumer loop beside the API; on the way out let its batch finish and commit."""
    if loop is None:
        yield
        return
    task = asyncio.create_task(loop.run())
    task.add_done_callback(_consumer_ended)
    try:
        yield
    finally:
        loop.stop()
        with suppress(Exception):  # a crash was reported when it happened
            try:
                await asyncio.wait_for(task, grace_seconds)
            except TimeoutError:
                log.error("consumer_stop_timeout", grace_seconds=grace_seconds)


def _consumer_ended(task: asyncio.Task[None]) -> None:
    """A loop that ends with an error is not coming back: say so now, not at shutdown, and
    stop the process (see `stop_failed_process`)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("consumer_crashed", error=type(error).__name__)
        stop_failed_process()


def touchpoint_consumer(
    settings: KafkaSettings,
    *,
    group_id: str,
    fold: Callable[[Sequence[TouchpointEvent]], Awaitable[object]],
    dead_letters: Publisher,
    max_batch: int,
) -> ConsumerLoop[TouchpointEvent]:
    """The consumer of the touchpoint stream: decode each event, fold a batch per transaction."""

    async def handle(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        await fold([item.value for item in batch])

    return ConsumerLoop(
        settings,
        group_id=group_id,
        topics=[settings.topics.touchpoints],
        decode=lambda _topic, value: decode_event(value),
        handler=handle,
        dead_letters=dead_letters,
        max_batch=max_batch,
        is_transient=is_transient,
    )
