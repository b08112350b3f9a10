"""The outbox: a change committed with the fold survives a broker that cannot take it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from rapport_events.changes import ProfileChange, decode_change
from rapport_events.db import Database
from rapport_events.kafka import Publisher
from rapport_events.settings import KafkaSettings
from rapport_profile.handlers import drain_outbox, fold_and_publish
from rapport_profile.store import queries

pytestmark = pytest.mark.integration


async def _outbox_rows(db: Database) -> int:
    async with db.connection() as conn:
        count: int = (await conn.execute(text("SELECT count(*) FROM profile_outbox"))).scalar_one()
        return count


async def _published(kafka: KafkaSettings) -> list[ProfileChange]:
    """Everything on the profile-changes topic so far (this test's own namespace)."""
    topic = kafka.topics.profile_changes
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ProfileChange] = []
        while True:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(at >= ends[tp] for at, tp in zip(positions, partitions, strict=True)):
                return found
            polled = await consumer.getmany(timeout_ms=1000)
            found.extend(decode_change(r.value) for rs in polled.values() for r in rs if r.value)
    finally:
        await consumer.stop()


async def test_changes_folded_while_the_broker_is_down_are_published_by_a_later_drain(
    fresh_db: Database, own_kafka: KafkaSettings, make_event: Any
) -> None:
    topic = own_kafka.topics.profile_changes
    dead = Publisher(KafkaSettings(bootstrap_servers="127.0.0.1:9", delivery_timeout_ms=500))
    live = Publisher(own_kafka)
    await live.start()
    try:
        email = f"{uuid.uuid4().hex}@example.com"
        signup = make_event("signed_up", {"email": email, "anonymous_id": uuid.uuid4().hex})
        folded = await fold_and_publish(fresh_db, dead, topic, [signup])

        # The fold committed although nothing reached Kafka: the changes wait in the outbox.
        assert folded.folded == 1
        assert sorted(change.kind for change in folded.changes) == ["card_changed", "identified"]
        async with fresh_db.connection() as conn:
            profile_id = await queries.lookup(conn, "email", email)
        assert {change.profile_id for change in folded.changes} == {profile_id}
        assert await _outbox_rows(fresh_db) == 2
        assert await _published(own_kafka) == []

        # A later batch on a healthy broker is published at once and leaves its rows cleared.
        other = make_event("page_viewed", {"anonymous_id": uuid.uuid4().hex}, {"url": "/x"})
        second = await fold_and_publish(fresh_db, live, topic, [other])
        assert sorted(c.kind for c in second.changes) == ["card_changed", "identified"]
        assert await _outbox_rows(fresh_db) == 2

        drained = await drain_outbox(fresh_db, live, topic)
        assert drained == 2
        assert await _outbox_rows(fresh_db) == 0
        published = await _published(own_kafka)
        assert sorted((str(c.profile_id), c.kind, c.version) for c in published) == sorted(
            (str(c.profile_id), c.kind, c.version) for c in [*second.changes, *folded.changes]
        )
        assert await drain_outbox(fresh_db, live, topic) == 0  # nothing is sent twice
    finally:
        await live.stop()
