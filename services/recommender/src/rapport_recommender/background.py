"""Background work beside the consumer: the re-ranker (pending co-occurrence increments →
item_pairs, then stale customers → stored rankings and best offers → the offers topic).

Each is woken by the consumer right after a fold commits (no polling delay on the way from an
event to its offer) and also looks every `rerank_poll_seconds` for work left by other
replicas or by an instance that stopped: the work lives in the database, not in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress

from prometheus_client import Counter

from rapport_events.db import is_transient
from rapport_events.observability import get_logger

log = get_logger(__name__)
DONE = Counter("rapport_recommender_background_total", "units of background work", ["worker"])
MAX_BACKOFF_SECONDS = 5.0
REST_CHECK_SECONDS = 1.0

# One bounded step of work; returns how much it did (0: nothing was waiting).
Step = Callable[[], Awaitable[int]]
# The share of the time the worker may take now, in (0, 1]: below 1 it rests between steps.
Share = Callable[[], float]


def whole() -> float:
    return 1.0


class Worker:
    def __init__(self, name: str, step: Step, poll_seconds: float, share: Share = whole) -> None:
        self.name = name
        self._step = step
        self._poll_seconds = poll_seconds
        self._share = share
        self._woken = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def share(self) -> float:
        """The share of the time it may take now: below 1 it rests between steps."""
        return self._share()

    def wake(self) -> None:
        """A fold has committed: there may be work."""
        self._woken.set()

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            self._woken.clear()  # before looking: a wake from now on means another look
            began = time.monotonic()
            try:
                done = await self._step()
            except Exception as error:
                # Whatever failed, the database still holds the work: wait, then retry.
                level = log.warning if is_transient(error) else log.error
                level(f"{self.name}_failed", error=type(error).__name__, detail=str(error)[:200])
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = 0.2
            DONE.labels(self.name).inc(done)
            if not done:
                await self._pause(self._poll_seconds)
            elif (share := self.share) < 1:
                # Rest so that the steps take `share` of the time; a wake does not cut it short.
                await self._rest((time.monotonic() - began) * (1 / share - 1))

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)

    async def _rest(self, seconds: float) -> None:
        """Rest, looking again every REST_CHECK_SECONDS: once the worker has the whole time
        back (the fold caught up), the rest ends."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0 and self.share < 1:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(left, REST_CHECK_SECONDS))
            if self._stopping.is_set():
                return


@asynccontextmanager
async def working(workers: Sequence[Worker], grace_seconds: float = 20) -> AsyncIterator[None]:
    """Run the workers beside the API; on the way out let each finish the step in hand."""
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()
        for worker, task in zip(workers, tasks, strict=True):
            try:
                await asyncio.wait_for(task, grace_seconds)
            except TimeoutError:
                log.error("worker_stop_timeout", worker=worker.name, grace_seconds=grace_seconds)
