"""The one producer: acks=all, idempotent, bounded retries, a clean error on a dead broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from rapport_events.observability import get_logger
from rapport_events.settings import KafkaSettings

log = get_logger(__name__)

Header = tuple[str, bytes]


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: nothing may be reported as accepted."""


class Publisher:
    """Publishes records and returns only once the broker has acknowledged them.

    Concurrent `publish` calls share the producer's linger/batch window, so throughput comes
    from batching many in-flight sends, never from skipping the acknowledgement.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
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
        )
        try:
            await asyncio.wait_for(producer.start(), self._settings.request_timeout_ms / 1000)
        except (KafkaError, TimeoutError, OSError) as error:
            await producer.stop()
            raise BrokerUnavailable(f"cannot reach Kafka: {type(error).__name__}") from error
        self._producer = producer

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
        try:
            futures = [
                await producer.send(topic, value, key=key, headers=list(headers))
                for key, value, headers in records
            ]
            await asyncio.wait_for(
                asyncio.gather(*futures), self._settings.delivery_timeout_ms / 1000 + 1
            )
        except (KafkaError, TimeoutError) as error:
            raise BrokerUnavailable(f"Kafka did not acknowledge: {type(error).__name__}") from error

    async def check(self) -> None:
        """Readiness: the broker answers a metadata request."""
        if self._producer is None:
            raise BrokerUnavailable("the producer is not connected to Kafka")
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 3)
