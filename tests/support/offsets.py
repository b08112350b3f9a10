"""Kafka offsets as a test sets them up: where partitions end, and a group's commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from rapport_events.settings import KafkaSettings


async def end_offsets(
    kafka: KafkaSettings, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await reader.start()
    try:
        return dict(await reader.end_offsets(list(partitions)))
    finally:
        await reader.stop()


async def commit_offsets(
    kafka: KafkaSettings, group: str, offsets: Mapping[TopicPartition, int]
) -> None:
    """Commit as a member of `group` that folded up to `offsets` would."""
    member = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await member.start()
    try:
        member.assign(list(offsets))
        await member.commit(dict(offsets))
    finally:
        await member.stop()
