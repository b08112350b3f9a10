"""How far a consumer group is behind, seen from outside it: for a process that consumes
nothing itself but should give way while another process's fold catches up (the
recommender's `work` beside its `serve` replicas)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from rapport_events.observability import get_logger
from rapport_events.settings import KafkaSettings

log = get_logger(__name__)
MEASURE_TIMEOUT_SECONDS = 5.0


class GroupLag:
    """The records between a group's committed offsets and the end of its topics, measured
    every `every_seconds` while `watch()` runs.

    `behind` is 0 until measured and while the broker cannot say: a process that gives way
    on it then works at its full pace rather than stop. A partition the group has never
    committed counts as not behind (a group's first batches commit within seconds)."""

    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        every_seconds: float = 1.0,
    ) -> None:
        self.group_id = group_id
        self.behind = 0
        self._settings = settings
        self._topics = set(topics)
        self._every_seconds = every_seconds

    async def watch(self) -> None:
        """Measure until cancelled; a failing measure is logged once, until one succeeds."""
        name = f"{self._settings.client_id}-lag"
        admin = AIOKafkaAdminClient(**self._settings.client_options(), client_id=name)
        # No group: it only asks where the logs end.
        ends = AIOKafkaConsumer(
            **self._settings.client_options(), client_id=name, enable_auto_commit=False
        )
        failing = started = False
        try:
            while True:
                try:
                    if not started:  # a broker down at start-up is waited for
                        await admin.start()
                        await ends.start()
                        started = True
                    # A broker that does not answer must not leave an old figure standing.
                    async with asyncio.timeout(MEASURE_TIMEOUT_SECONDS):
                        self.behind = await self._measure(admin, ends)
                    failing = False
                except (KafkaError, OSError, TimeoutError) as error:
                    self.behind = 0
                    if not failing:
                        log.warning("group_lag_unknown", group=self.group_id, error=repr(error))
                    failing = True
                await asyncio.sleep(self._every_seconds)
        finally:
            with suppress(KafkaError, OSError):
                await ends.stop()
            with suppress(KafkaError, OSError):
                await admin.close()

    async def _measure(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> int:
        committed = {
            tp: meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(self.group_id)).items()
            if tp.topic in self._topics and meta.offset >= 0
        }
        if not committed:
            return 0
        end: dict[TopicPartition, int] = await ends.end_offsets(list(committed))
        return sum(max(0, end[tp] - offset) for tp, offset in committed.items())
