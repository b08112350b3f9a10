"""The one consumer loop every service runs.

Contract with the handler: it receives a batch of decoded records and must apply them durably
(one database transaction) before returning. Only then are the offsets committed, so a crash at
any point redelivers the batch; handlers are idempotent (they dedupe by event id), which turns
at-least-once delivery into an exactly-once effect.

- A record that cannot be decoded goes to the dead-letter topic with the reason.
- A transient failure (database or broker down) retries the same batch with backoff, without
  committing, until it succeeds or the loop is stopped.
- Any other failure is a record the handler cannot take: the batch is bisected until the
  record is found, and it goes to the dead-letter topic; the stream goes on.
- `stop()` (wired to SIGTERM) lets the batch in hand finish and commit, then leaves the group.
- A loop given `linger_ms` gathers a poll's records for that long (up to `max_batch`) before
  handling them: fewer, larger batches for a consumer that nobody waits on at once.
- A loop given `select` passes over the records it does not choose (by their headers or time,
  without decoding them); their offsets commit with the batch, or at most a second later when
  a poll held none it chose, and at the latest when the group takes their partitions away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import Counter, Gauge, Histogram

from rapport_events.kafka.admin import ensure_topics
from rapport_events.kafka.producer import Publisher
from rapport_events.observability import get_logger
from rapport_events.settings import KafkaSettings

T = TypeVar("T")

log = get_logger(__name__)

RECORDS = Counter("rapport_consumer_records_total", "records handled", ["group", "outcome"])
BATCH_SECONDS = Histogram(
    "rapport_consumer_batch_seconds",
    "time to handle and commit one batch",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG = Gauge("rapport_consumer_lag", "records behind the end of the log", ["group"])
RETRIES = Counter("rapport_consumer_retries_total", "batches retried after a failure", ["group"])
# A poll whose records were all passed over (`select`) commits at most this often: an express
# lane that takes a few records a second out of 1,000 would otherwise commit after every poll.
PASS_OVER_COMMIT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Delivered(Generic[T]):
    """A decoded record and where it came from."""

    value: T
    topic: str
    partition: int
    offset: int
    key: bytes | None


Handler = Callable[[Sequence[Delivered[T]]], Awaitable[None]]
Decoder = Callable[[str, bytes], T]
Selector = Callable[[ConsumerRecord], bool]


def _every(record: ConsumerRecord) -> bool:
    return True


def _default_transient(error: BaseException) -> bool:
    return isinstance(error, OSError | TimeoutError | ConnectionError | KafkaError)


class ConsumerLoop(Generic[T]):
    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        topics: Sequence[str],
        decode: Decoder[T],
        handler: Handler[T],
        dead_letters: Publisher,
        max_batch: int = 1000,
        poll_timeout_ms: int = 200,
        linger_ms: int = 0,
        is_transient: Callable[[BaseException], bool] = _default_transient,
        from_beginning: bool = True,
        select: Selector = _every,
    ) -> None:
        self._settings = settings
        self._group_id = group_id
        self._topics = list(topics)
        self._decode = decode
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_batch = max_batch
        self._poll_timeout_ms = poll_timeout_ms
        self._linger = linger_ms / 1000
        self._is_transient = is_transient
        self._from_beginning = from_beginning
        self._select = select
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._committing: asyncio.Task[None] | None = None
        self._passed_over: dict[TopicPartition, int] = {}  # offsets not committed yet
        self._commit_due = 0.0
        self.handled = 0
        # Records behind the end of the log after the last poll (0 until measured): what is
        # beside the loop may give it way while it catches up.
        self.behind = 0

    def stop(self) -> None:
        self._stopping.set()

    @property
    def running(self) -> bool:
        return self._consumer is not None

    async def lag(self) -> int | None:
        """Records between this instance's position and the end of its assigned partitions."""
        consumer = self._consumer
        if consumer is None:
            return None
        total = 0
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:  # nothing fetched from this partition yet
                continue
            # Passed over and held for the next commit counts as done: not behind.
            position = self._passed_over.get(tp, self._positions.get(tp))
            if position is None:
                position = await consumer.position(tp)
            total += max(0, end - position)
        return total

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self._settings.client_options(),
            client_id=f"{self._settings.client_id}-{self._group_id}",
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_beginning else "latest",
            max_poll_records=self._max_batch,
            # A batch may wait out a database outage before it commits.
            max_poll_interval_ms=600_000,
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=self._settings.max_partition_fetch_bytes,
        )
        consumer.subscribe(self._topics, listener=_HandOver(self, consumer))
        await self._start_with_retry(consumer)
        self._consumer = consumer
        log.info("consumer_started", group=self._group_id, topics=self._topics)
        try:
            while not self._stopping.is_set():
                polled = await consumer.getmany(
                    timeout_ms=self._poll_timeout_ms, max_records=self._max_batch
                )
                if polled and self._linger:
                    await self._gather(consumer, polled)
                if polled:
                    await self._process(consumer, polled)
                self.behind = await self.lag() or 0
                LAG.labels(self._group_id).set(self.behind)
        finally:
            with suppress(KafkaError):  # not committed: redelivered, and ignored, on restart
                await self._settle_commit()
                if self._passed_over:
                    await self._commit(consumer, self._passed_over, 0, 0)
            self._consumer = None
            await consumer.stop()
            log.info("consumer_stopped", group=self._group_id, handled=self.handled)

    async def _gather(
        self, consumer: AIOKafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        """Add to `polled` what arrives within the linger of its first records. A batch has
        a fixed cost (a transaction, its statements' round trips) that a steady stream cut
        into small batches pays many times a second; a backlog fills `max_batch` at once."""
        count = sum(len(records) for records in polled.values())
        until = time.monotonic() + self._linger
        while count < self._max_batch and not self._stopping.is_set():
            left_ms = round((until - time.monotonic()) * 1000)
            if left_ms <= 0:
                return
            more = await consumer.getmany(timeout_ms=left_ms, max_records=self._max_batch - count)
            for tp, records in more.items():
                polled.setdefault(tp, []).extend(records)
                count += len(records)

    async def _start_with_retry(self, consumer: AIOKafkaConsumer) -> None:
        delay = 0.5
        while True:
            try:
                # Subscribing to a topic that does not exist yet would wait for a metadata
                # refresh; creating it first makes the first start deterministic.
                await ensure_topics(
                    self._settings, (*self._topics, self._settings.topics.touchpoints_dlq)
                )
                await consumer.start()
                return
            except (KafkaError, OSError) as error:
                if self._stopping.is_set():
                    raise
                log.warning("consumer_start_failed", group=self._group_id, error=repr(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _process(
        self, consumer: AIOKafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        with BATCH_SECONDS.labels(self._group_id).time():
            batch: list[Delivered[T]] = []
            raw: dict[int, ConsumerRecord] = {}
            poisoned: list[tuple[ConsumerRecord, str]] = []
            for records in polled.values():
                for record in records:
                    if not self._select(record):
                        continue
                    try:
                        value = self._decode(record.topic, record.value)
                    except Exception as error:
                        poisoned.append((record, f"undecodable: {error}"))
                        continue
                    delivered = Delivered(
                        value, record.topic, record.partition, record.offset, record.key
                    )
                    raw[id(delivered)] = record
                    batch.append(delivered)
            if poisoned:
                await self._dead_letter(poisoned)
            rejected: list[tuple[Delivered[T], str]] | None = []
            if batch:
                rejected = await self._handle(batch)
                if rejected is None:
                    return  # stopping while retrying: nothing committed, all redelivered
                if rejected:
                    await self._dead_letter([(raw[id(item)], reason) for item, reason in rejected])
            polled_to = {tp: records[-1].offset + 1 for tp, records in polled.items()}
            offsets = {**self._passed_over, **polled_to}
            if not batch and not poisoned and time.monotonic() < self._commit_due:
                # Only passed over (an express lane's usual poll): these offsets go with the
                # next commit, at most PASS_OVER_COMMIT_SECONDS from now, instead of a commit
                # per poll (or before the group takes the partitions away: _hand_over). After a
                # crash the records are passed over again.
                self._passed_over = offsets
                return
            self._passed_over = {}
            self._commit_due = time.monotonic() + PASS_OVER_COMMIT_SECONDS
            # The batch is applied; its offsets commit while the next batch is fetched and
            # folded (a commit is a broker round trip, ~8 ms measured under load, that every
            # event behind it would otherwise wait out). One commit in flight at a time keeps
            # them in order; a crash before it lands redelivers what the handler already
            # applied, which it ignores.
            await self._settle_commit()
            self._committing = asyncio.create_task(
                self._commit(consumer, offsets, len(batch), len(batch) - len(rejected or []))
            )

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        offsets: dict[TopicPartition, int],
        delivered: int,
        handled: int,
    ) -> None:
        # The group may have rebalanced while the batch was folded: a partition given to
        # another member is theirs to commit (they get its records again, and the idempotent
        # handler ignores what was already applied). Committing it here would be refused.
        kept = {tp: offset for tp, offset in offsets.items() if tp in consumer.assignment()}
        try:
            if kept:
                await consumer.commit(kept)
        except (CommitFailedError, IllegalStateError) as error:
            # Rebalanced between the check and the commit, or still rebalancing: the same
            # redelivery makes up for it.
            log.warning("commit_failed_rebalance", group=self._group_id, error=type(error).__name__)
            return
        if len(kept) < len(offsets):
            log.warning(
                "commit_skipped_revoked", group=self._group_id, partitions=len(offsets) - len(kept)
            )
        self._positions.update(kept)
        self.handled += delivered
        RECORDS.labels(self._group_id, "handled").inc(handled)

    async def _hand_over(self, consumer: AIOKafkaConsumer, revoked: set[TopicPartition]) -> None:
        """Before the group rebalances: commit what was only passed over on the partitions
        going, while they are still ours, so that their next owner starts after it; and forget
        it, so that no later commit (the partition may come back) moves a partition behind
        where its next owner left it."""
        held = {tp: offset for tp, offset in self._passed_over.items() if tp in revoked}
        self._passed_over = {tp: o for tp, o in self._passed_over.items() if tp not in revoked}
        for tp in revoked:
            self._positions.pop(tp, None)  # measured again from the position if it comes back
        if not held:
            return
        try:
            await consumer.commit(held)
        except (KafkaError, IllegalStateError) as error:
            # Their next owner passes over them again: nothing is lost.
            log.warning("hand_over_commit_failed", group=self._group_id, error=type(error).__name__)

    async def _settle_commit(self) -> None:
        """Wait for the commit in flight, if any."""
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    async def _handle(self, batch: list[Delivered[T]]) -> list[tuple[Delivered[T], str]] | None:
        """Apply the batch; return the records rejected as poison, or None if stopped."""
        delay = 0.2
        while True:
            try:
                await self._handler(batch)
                return []
            except Exception as error:
                if not self._is_transient(error):
                    return await self._bisect(batch, error)
                RETRIES.labels(self._group_id).inc()
                log.warning("batch_retry", group=self._group_id, error=type(error).__name__)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return None
            except TimeoutError:
                delay = min(delay * 2, 5)

    async def _bisect(
        self, batch: list[Delivered[T]], error: Exception
    ) -> list[tuple[Delivered[T], str]] | None:
        if len(batch) == 1:
            log.error(
                "record_rejected",
                group=self._group_id,
                topic=batch[0].topic,
                partition=batch[0].partition,
                offset=batch[0].offset,
                error=type(error).__name__,
            )
            return [(batch[0], f"handler failed: {type(error).__name__}: {error}")]
        middle = len(batch) // 2
        rejected: list[tuple[Delivered[T], str]] = []
        for half in (batch[:middle], batch[middle:]):
            result = await self._handle(half)
            if result is None:
                return None
            rejected.extend(result)
        return rejected

    async def _dead_letter(self, records: list[tuple[ConsumerRecord, str]]) -> None:
        # Dead letters must be durable before the offset moves past them: retry until sent.
        by_topic: dict[str, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]] = {}
        for record, reason in records:
            headers = [
                ("rapport-dlq-reason", reason[:2000].encode()),
                (
                    "rapport-dlq-source",
                    f"{record.topic}/{record.partition}/{record.offset}".encode(),
                ),
                ("rapport-dlq-group", self._group_id.encode()),
            ]
            dlq = self._settings.topics.touchpoints_dlq
            by_topic.setdefault(dlq, []).append((record.key, record.value or b"", headers))
        delay = 0.2
        while True:
            try:
                for topic, entries in by_topic.items():
                    await self._dead_letters.publish_many(topic, entries)
                break
            except Exception as error:
                log.warning("dead_letter_retry", group=self._group_id, error=type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)
        RECORDS.labels(self._group_id, "dead_lettered").inc(len(records))
        log.warning("dead_lettered", group=self._group_id, count=len(records))


class _HandOver(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the loop when the group is about to take its partitions (aiokafka waits for it)."""

    def __init__(self, loop: ConsumerLoop[Any], consumer: AIOKafkaConsumer) -> None:
        self._loop = loop
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop._hand_over(self._consumer, set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
