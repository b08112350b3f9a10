"""An ingest server on a free port against the session's real Kafka topics, and a plain
aiokafka reader of what it published."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from rapport_events.settings import KafkaSettings
from rapport_ingest.api.app import build_app
from rapport_ingest.settings import IngestSettings
from support.keys import ApiKeys
from support.servers import running

# event_id → every record carrying it: [{"key", "headers", "value", "partition"}, ...]
Records = dict[str, list[dict[str, Any]]]
ReadBack = Callable[..., Awaitable[Records]]  # (event_ids, topic=the touchpoints)


@pytest.fixture(scope="session")
async def ingest(kafka_settings: KafkaSettings, keys: ApiKeys) -> AsyncIterator[str]:
    settings = IngestSettings(api_keys=keys.config(), kafka=kafka_settings)
    async with running(build_app(settings)) as base:
        yield base


@pytest.fixture(scope="session")
def read_back(kafka_settings: KafkaSettings) -> ReadBack:
    """Read the touchpoint topic (or `topic`) from the start up to its end; returns every
    record of the wanted event ids (a duplicate shows as a list of two)."""

    async def read(event_ids: Collection[str], topic: str | None = None) -> Records:
        # Everything acknowledged before this call is below the end offsets taken here, so
        # reading up to them sees every copy of every wanted event: duplicates included.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"ingest-test-{uuid.uuid4().hex[:6]}",
        )
        await consumer.start()
        found: Records = {}
        try:
            topic = topic or kafka_settings.topics.touchpoints
            # The session created the topic with this many partitions (support.fixtures).
            partitions = [TopicPartition(topic, n) for n in range(kafka_settings.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            deadline = asyncio.get_running_loop().time() + 20
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                assert asyncio.get_running_loop().time() < deadline, "topic read timed out"
                batches = await consumer.getmany(timeout_ms=200)
                for partition, messages in batches.items():
                    for message in messages:
                        value = orjson.loads(message.value)
                        if value["event_id"] in event_ids:
                            found.setdefault(value["event_id"], []).append(
                                {
                                    "key": message.key,
                                    "headers": dict(message.headers),
                                    "value": value,
                                    "partition": partition.partition,
                                }
                            )
        finally:
            await consumer.stop()
        return found

    return read
