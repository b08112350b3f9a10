"""The fold behind real Kafka: crash safety (kill -9), poison messages, replay after erasure."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from bench.stack import free_port
from rapport_events.codec import encode_event
from rapport_events.db import Database
from rapport_events.identity import message_key
from rapport_events.kafka import Publisher
from rapport_events.settings import DatabaseSettings, KafkaSettings
from rapport_profile.__main__ import replay
from rapport_profile.consumer import build_consumer
from rapport_profile.handlers import erase_customer
from rapport_profile.settings import ProfileSettings
from rapport_profile.store import queries
from support.infra import Endpoints
from support.servers import eventually

pytestmark = pytest.mark.integration


def _orders(make_event: Any, customers: int, each: int) -> list[Any]:
    return [
        make_event(
            "store_purchase",
            {"loyalty_id": f"L-{c}"},
            {
                "store_id": "leeds-01",
                "receipt_id": f"r-{c}-{n}",
                "items": [{"sku": "A", "quantity": 1, "price": 2}],
                "total": 2,
                "currency": "GBP",
            },
            channel="store",
        )
        for c in range(customers)
        for n in range(each)
    ]


async def _preload(kafka: KafkaSettings, events: list[Any]) -> None:
    publisher = Publisher(kafka)
    await publisher.start()
    try:
        await publisher.publish_many(
            kafka.topics.touchpoints,
            [(message_key(e.identity), encode_event(e), ()) for e in events],
        )
    finally:
        await publisher.stop()


async def _read_topic(infra: Endpoints, topic: str) -> list[Any]:
    """What one fetch from the beginning of a topic returns."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await reader.start()
    try:
        polled = await reader.getmany(timeout_ms=5000)
        return [record for records in polled.values() for record in records]
    finally:
        await reader.stop()


async def _scalar(db: Database, sql: str) -> Any:
    async with db.connection() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def test_kill_9_mid_batch_then_restart_loses_nothing_and_counts_once(
    infra: Endpoints, own_kafka: KafkaSettings, fresh_db: Database, make_event: Any
) -> None:
    events = _orders(make_event, customers=200, each=20)
    await _preload(own_kafka, events)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_TOPIC_NAMESPACE": own_kafka.topic_namespace,
        "DATABASE_URL": fresh_db.url,
        "RAPPORT_PORT": str(free_port()),
        "RAPPORT_CONSUMER_GROUP": f"{own_kafka.topic_namespace}profile",
        "RAPPORT_MAX_BATCH": "100",
        "RAPPORT_REFRESH_INTERVAL_S": "0",
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "rapport_profile", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    child = start()
    try:

        async def started_folding() -> int | None:
            done = await _scalar(fresh_db, "SELECT count(*) FROM processed_events")
            return done if 0 < done < len(events) else None

        partial = await eventually(started_folding, timeout=60, interval=0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert partial < len(events)
        child = start()

        async def all_folded() -> bool | None:
            done = await _scalar(fresh_db, "SELECT count(*) FROM processed_events")
            return True if done == len(events) else None

        await eventually(all_folded, timeout=90, interval=0.2)
    finally:
        child.kill()
        child.wait(10)
    assert await _scalar(fresh_db, "SELECT sum(orders) FROM profiles") == len(events)
    assert await _scalar(fresh_db, "SELECT count(*) FROM interactions") == len(events)
    assert await _scalar(fresh_db, "SELECT sum(revenue) FROM profiles") == 2 * len(events)


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_stream_goes_on(
    infra: Endpoints, own_kafka: KafkaSettings, fresh_db: Database, make_event: Any
) -> None:
    good = make_event("page_viewed", {"anonymous_id": uuid.uuid4().hex}, {"url": "/x"})
    publisher = Publisher(own_kafka)
    await publisher.start()
    try:
        await publisher.publish(own_kafka.topics.touchpoints, b'{"type": "nonsense"')
        await publisher.publish(own_kafka.topics.touchpoints, encode_event(good), key=b"k")
        settings = ProfileSettings(
            kafka=own_kafka,
            database=DatabaseSettings(database_url=fresh_db.url),  # type: ignore[arg-type]
        )
        loop = build_consumer(settings, fresh_db, publisher, group_id=f"g-{uuid.uuid4().hex}")
        running = asyncio.create_task(loop.run())
        try:

            async def folded() -> int | None:
                count = await _scalar(fresh_db, "SELECT count(*) FROM interactions")
                return count or None

            assert await eventually(folded, timeout=30) == 1
        finally:
            loop.stop()
            await running
    finally:
        await publisher.stop()
    values = [record.value for record in await _read_topic(infra, own_kafka.topics.touchpoints_dlq)]
    assert values == [b'{"type": "nonsense"']


async def test_replay_from_the_beginning_rebuilds_the_store_but_not_the_erased(
    infra: Endpoints, own_kafka: KafkaSettings, fresh_db: Database, make_event: Any
) -> None:
    events = _orders(make_event, customers=2, each=3)
    await _preload(own_kafka, events)
    settings = ProfileSettings(
        kafka=own_kafka,
        database=DatabaseSettings(database_url=fresh_db.url),  # type: ignore[arg-type]
        consumer_group=f"{own_kafka.topic_namespace}profile",
    )
    assert await replay(settings) == 6
    async with fresh_db.connection() as conn:
        erased_id = await queries.lookup(conn, "loyalty_id", "L-0")
    assert erased_id is not None
    publisher = Publisher(own_kafka)
    await publisher.start()
    try:
        await erase_customer(fresh_db, publisher, own_kafka.topics.profile_changes, erased_id)
    finally:
        await publisher.stop()
    assert await replay(settings) == 6
    async with fresh_db.connection() as conn:
        assert await queries.lookup(conn, "loyalty_id", "L-0") is None
        kept = await queries.lookup(conn, "loyalty_id", "L-1")
        assert kept is not None
        row = await queries.profile(conn, kept)
        assert row is not None
        assert row["orders"] == 3
        survivor, erased_at = await queries.resolve(conn, erased_id)
        assert survivor is None
        assert erased_at is not None  # the old id answers 410 Gone
    assert await _scalar(fresh_db, "SELECT count(*) FROM interactions") == 3


async def test_the_consumer_relays_its_changes_and_empties_the_outbox(
    infra: Endpoints, own_kafka: KafkaSettings, fresh_db: Database, make_event: Any
) -> None:
    """The changes are published beside the fold (not before the offsets are committed):
    they still all reach the topic, once the fold has committed them to the outbox."""
    events = _orders(make_event, customers=3, each=2)
    await _preload(own_kafka, events)
    settings = ProfileSettings(
        kafka=own_kafka,
        database=DatabaseSettings(database_url=fresh_db.url),  # type: ignore[arg-type]
        max_batch=2,  # several batches, so several relayed in turn
    )
    publisher = Publisher(own_kafka)
    await publisher.start()
    loop = build_consumer(settings, fresh_db, publisher, group_id=f"g-{uuid.uuid4().hex}")
    running = asyncio.create_task(loop.run())
    try:

        async def relayed() -> bool | None:
            folded = await _scalar(fresh_db, "SELECT count(*) FROM interactions") == len(events)
            pending = await _scalar(fresh_db, "SELECT count(*) FROM profile_outbox")
            return (folded and pending == 0) or None

        assert await eventually(relayed, timeout=30)
    finally:
        loop.stop()
        await running
        await publisher.stop()
    keys = {record.key for record in await _read_topic(infra, own_kafka.topics.profile_changes)}
    async with fresh_db.connection() as conn:
        profile_ids = {
            str(await queries.lookup(conn, "loyalty_id", f"L-{c}")).encode() for c in range(3)
        }
    assert keys == profile_ids  # every customer's card change arrived
