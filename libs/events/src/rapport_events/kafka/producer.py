"""The one producer: acks=all, idempotent, bounded retries, a clean error on a dead broker."""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, UnknownTopicOrPartitionError

from rapport_events.codec import Header
from rapport_events.observability import get_logger
from rapport_events.settings import KafkaSettings

log = get_logger(__name__)

# send() raises these while the broker is merely away; they leave the producer sound.
OUTAGE_SYMPTOMS = (KafkaTimeoutError, UnknownTopicOrPartitionError)


_MASK = 0xFFFFFFFF
_M = 0x5BD1E995


@lru_cache(maxsize=64)
def _words(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}I")


def murmur2(data: bytes) -> int:
    """Kafka's key hash (Java `Utils.murmur2`), exactly, in fewer Python operations than
    aiokafka's byte-by-byte version: reading whole little-endian words with `struct` makes
    partitioning an event's 64-byte key cost a third of what it did."""
    length = len(data)
    h = 0x9747B28C ^ length
    for word in _words(length >> 2).unpack_from(data):
        k = (word * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    if extra := length & 3:
        body = length & ~3
        if extra == 3:
            h ^= data[body + 2] << 16
        if extra >= 2:
            h ^= data[body + 1] << 8
        h = ((h ^ data[body]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The default partitioner's choice (the same partition for the same key as any Kafka
    client), with the faster hash."""
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311 - spreading, not secrecy
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: nothing may be reported as accepted."""


class Publisher:
    """Publishes records and returns only once the broker has acknowledged them.

    Concurrent `publish` calls share the producer's linger/batch window, so throughput comes
    from batching many in-flight sends, never from skipping the acknowledgement.

    A producer that has had a batch fail is replaced. The idempotent producer numbers each
    partition's batches and the broker accepts only the next number; aiokafka consumes numbers
    for batches it then fails (above all, batches that expire while a broker restart leaves the
    partition without a leader) and, unlike the Java client, never resets them. Every later
    send to that partition is refused with OutOfOrderSequenceNumber for the life of the
    process, so ingest would answer 503 forever after a broker restart. A fresh producer gets
    a new producer id and numbers from zero; a record that both producers wrote is deduped by
    event id downstream, as any retry is.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._renewal: asyncio.Task[None] | None = None

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **self._settings.client_options(),
            client_id=self._settings.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.linger_ms,
            max_batch_size=self._settings.max_batch_size,
            compression_type=self._settings.compression_type,
            request_timeout_ms=self._settings.delivery_timeout_ms,
            retry_backoff_ms=100,
            partitioner=partition_for,
        )
        try:
            await asyncio.wait_for(producer.start(), self._settings.request_timeout_ms / 1000)
        except (KafkaError, TimeoutError, OSError) as error:
            await producer.stop()
            raise BrokerUnavailable(f"cannot reach Kafka: {type(error).__name__}") from error
        return producer

    async def start(self) -> None:
        self._producer = await self._new_producer()

    async def connect(self) -> None:
        """Create the topics if missing and start, retrying for as long as it takes.

        Services run this in the background at start-up: until it succeeds, publishing raises
        BrokerUnavailable (ingest answers 503) and readiness reports Kafka unavailable.
        """
        from rapport_events.kafka.admin import ensure_topics  # noqa: PLC0415 - avoids a cycle

        delay = 0.5
        while True:
            try:
                await ensure_topics(self._settings)
                await self.start()
                log.info("kafka_connected")
                return
            except (BrokerUnavailable, KafkaError, OSError) as error:
                log.warning("kafka_unreachable", error=type(error).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def stop(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)
            self._renewal = None
        if self._producer is not None:
            await self._producer.stop()  # flushes what is in flight
            self._producer = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
    ) -> None:
        """Send one record and wait for acks=all; raise BrokerUnavailable on failure."""
        await self.publish_many(topic, [(key, value, headers)])

    async def publish_many(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes, Sequence[Header]]]
    ) -> None:
        """Send many records at once and wait until all are acknowledged (or raise).

        Either every record is acknowledged or the caller is told it failed; a failed call may
        have published some records, which is safe because every consumer dedupes by event id.
        """
        if self._producer is None:
            raise BrokerUnavailable("the producer is not connected to Kafka")
        producer = self._producer
        watch = self._watch(producer)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.delivery_timeout_ms / 1000 + 1
        futures: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout_at(deadline):
                for key, value, headers in records:
                    future = await producer.send(topic, value, key=key, headers=list(headers))
                    # Watched to its end even after this call gave up on it: a late failure
                    # still means the producer must be replaced.
                    future.add_done_callback(watch)
                    futures.append(future)
            # Not cancelled on timeout: aiokafka fails a batch only through futures not done.
            done, pending = await asyncio.wait(futures, timeout=max(deadline - loop.time(), 0))
        except TimeoutError as error:
            raise BrokerUnavailable("Kafka did not take the records in time") from error
        except KafkaError as error:
            if not isinstance(error, OUTAGE_SYMPTOMS):
                self._renew(producer, error)
            raise BrokerUnavailable(f"Kafka refused the records: {type(error).__name__}") from error
        if pending:
            raise BrokerUnavailable("Kafka did not acknowledge in time")
        for future in done:
            if (failure := future.exception()) is not None:
                raise BrokerUnavailable(
                    f"Kafka did not acknowledge: {type(failure).__name__}"
                ) from failure

    def _watch(self, producer: AIOKafkaProducer) -> Callable[[asyncio.Future[object]], None]:
        def delivered(future: asyncio.Future[object]) -> None:
            if not future.cancelled() and (failure := future.exception()) is not None:
                self._renew(producer, failure)

        return delivered

    def _renew(self, broken: AIOKafkaProducer, error: BaseException) -> None:
        """Replace `broken` (once, however many of its records failed) in the background;
        publishing answers BrokerUnavailable until the new producer is up."""
        if self._producer is not broken:
            return  # already being replaced
        self._producer = None
        log.warning("kafka_producer_renewing", error=type(error).__name__)
        self._renewal = asyncio.create_task(self._replace(broken))

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        # The old producer first delivers or fails what it holds (it does once the broker
        # answers), so that no record of the new one overtakes a record of the old one.
        try:
            await broken.stop()
        except KafkaError as error:
            log.warning("kafka_producer_stop_failed", error=type(error).__name__)
        delay = 0.2
        while True:
            try:
                self._producer = await self._new_producer()
            except BrokerUnavailable as error:
                log.warning("kafka_unreachable", error=str(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2)
            else:
                log.warning("kafka_producer_renewed")
                return

    async def check(self) -> None:
        """Readiness: the broker answers a metadata request."""
        if self._producer is None:
            raise BrokerUnavailable("the producer is not connected to Kafka")
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 3)
