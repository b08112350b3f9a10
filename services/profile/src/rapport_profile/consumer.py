"""The Kafka entry point of the profile service: decode, fold, publish, commit after."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_events.kafka import ConsumerLoop, Publisher
from rapport_events.runtime import touchpoint_consumer
from rapport_events.settings import KafkaSettings
from rapport_profile.handlers import fold_and_publish
from rapport_profile.settings import ProfileSettings
from rapport_profile.store.state_cache import ProfileCache


def build_consumer(
    settings: ProfileSettings,
    db: Database,
    publisher: Publisher,
    *,
    group_id: str | None = None,
) -> ConsumerLoop[TouchpointEvent]:
    topic = settings.kafka.topics.profile_changes
    cache = ProfileCache(settings.state_cache_size)

    async def fold(events: Sequence[TouchpointEvent]) -> None:
        await fold_and_publish(db, publisher, topic, events, cache=cache)

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
