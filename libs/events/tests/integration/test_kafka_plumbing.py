"""The shared Kafka plumbing against the real broker: the publisher's acknowledgement and its
clean failure, and the consumer loop's commit-after-handler, dead letters and retries."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.stack import free_port
from rapport_events.codec import decode_event, encode_event, header
from rapport_events.envelope import TouchpointEvent, parse_event
from rapport_events.identity import message_key
from rapport_events.kafka import BrokerUnavailable, ConsumerLoop, GroupLag, Publisher
from rapport_events.kafka import consumer as consumer_module
from rapport_events.kafka.consumer import Delivered
from rapport_events.runtime import watching
from rapport_events.settings import KafkaSettings
from support.offsets import commit_offsets, end_offsets
from support.servers import eventually

pytestmark = pytest.mark.integration


def page_view(n: int) -> TouchpointEvent:
    return parse_event(
        {
            "type": "page_viewed",
            "channel": "web",
            "occurred_at": datetime.now(UTC).isoformat(),
            "identity": {"anonymous_id": f"anon-{n}"},
            "properties": {"url": f"/p/{n}"},
        }
    )


async def publish(publisher: Publisher, topic: str, events: Sequence[TouchpointEvent]) -> None:
    await publisher.publish_many(
        topic, [(message_key(event.identity), encode_event(event), []) for event in events]
    )


async def read_all(settings: KafkaSettings, topic: str, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 15
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def committed(settings: KafkaSettings, group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        total = 0
        for partition in partitions:
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


@pytest.fixture
def settings(own_kafka: KafkaSettings) -> KafkaSettings:
    """Topics of the test's own, created and empty (and deleted after it)."""
    return own_kafka


def loop_over(
    settings: KafkaSettings,
    handler: Callable[[Sequence[Delivered[TouchpointEvent]]], Awaitable[None]],
    publisher: Publisher,
    group: str | None = None,
    max_batch: int = 1000,
) -> ConsumerLoop[TouchpointEvent]:
    return ConsumerLoop(
        settings,
        group_id=group or f"group-{uuid.uuid4().hex[:6]}",
        topics=[settings.topics.touchpoints],
        decode=lambda _topic, value: decode_event(value),
        handler=handler,
        dead_letters=publisher,
        max_batch=max_batch,
    )


@asynccontextmanager
async def running(loop: ConsumerLoop[Any]) -> AsyncIterator[asyncio.Task[None]]:
    """The loop running in the background while the block runs, then stopped."""
    task = asyncio.create_task(loop.run())
    try:
        yield task
    finally:
        loop.stop()
        await asyncio.wait_for(task, 20)


async def run_until(loop: ConsumerLoop[Any], done: asyncio.Event, timeout: float = 20) -> None:
    async with running(loop):
        await asyncio.wait_for(done.wait(), timeout)


async def test_publish_is_acknowledged_and_keyed(settings: KafkaSettings) -> None:
    publisher = Publisher(settings)
    await publisher.start()
    try:
        event = page_view(1)
        await publisher.publish(
            settings.topics.touchpoints,
            encode_event(event),
            key=message_key(event.identity),
            headers=[("event-type", b"page_viewed")],
        )
    finally:
        await publisher.stop()
    [record] = await read_all(settings, settings.topics.touchpoints, 1)
    assert record.key == message_key(event.identity)
    assert dict(record.headers)["event-type"] == b"page_viewed"
    assert decode_event(record.value) == event


async def test_a_dead_broker_fails_cleanly_and_fast() -> None:
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=2000)
    publisher = Publisher(dead)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await publisher.start()
    assert time.monotonic() - started < 10
    with pytest.raises(BrokerUnavailable):
        await publisher.publish("anything", b"{}")


async def test_a_refused_batch_does_not_break_the_partition_for_good(
    settings: KafkaSettings,
) -> None:
    """A batch the broker refuses has used up sequence numbers of the idempotent producer;
    aiokafka never resets them, so without a fresh producer every later record to that
    partition is refused (OutOfOrderSequenceNumber) — what kept ingest at 503 after a broker
    restart. A record too large for the topic is the deterministic way to get such a batch."""
    topic = f"{settings.topic_namespace}small-records"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "2000"})])
    publisher = Publisher(settings)
    await publisher.start()
    try:
        await publisher.publish(topic, b"before")
        with pytest.raises(BrokerUnavailable):
            await publisher.publish(topic, os.urandom(20_000))
        deadline = time.monotonic() + 20
        while True:
            try:
                await publisher.publish(topic, b"after")
                break
            except BrokerUnavailable:
                assert time.monotonic() < deadline, "the partition stayed unwritable"
                await asyncio.sleep(0.2)
        await publisher.publish(topic, b"and on")
        values = [record.value for record in await read_all(settings, topic, 3)]
        assert values == [b"before", b"after", b"and on"]
    finally:
        await publisher.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def test_offsets_are_committed_only_after_the_handler_finished(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    events = [page_view(n) for n in range(50)]
    await publish(publisher, settings.topics.touchpoints, events)
    group = f"group-{uuid.uuid4().hex[:6]}"
    seen: list[uuid.UUID] = []
    done = asyncio.Event()
    failed_once = False

    async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        nonlocal failed_once
        if not failed_once:
            failed_once = True
            raise ConnectionError("the database went away")  # transient: retried, not committed
        seen.extend(item.value.event_id for item in batch)
        if len(set(seen)) == len(events):
            done.set()

    loop = loop_over(settings, handler, publisher, group)
    await run_until(loop, done)
    assert sorted(set(seen)) == sorted(event.event_id for event in events)
    assert await committed(settings, group, settings.topics.touchpoints) == len(events)


async def test_a_loop_that_selects_by_header_passes_over_the_rest_and_commits_past_it(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    chosen = [page_view(n) for n in range(5)]
    passed_over = [page_view(n) for n in range(5, 50)]
    await publisher.publish_many(
        settings.topics.touchpoints,
        [
            (message_key(e.identity), encode_event(e), [("pick", b"yes" if e in chosen else b"no")])
            for e in chosen + passed_over
        ],
    )
    group = f"group-{uuid.uuid4().hex[:6]}"
    seen: list[uuid.UUID] = []
    done = asyncio.Event()

    async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        seen.extend(item.value.event_id for item in batch)
        if len(seen) >= len(chosen):
            done.set()

    decoded: list[bytes] = []

    def decode(_topic: str, value: bytes) -> TouchpointEvent:
        decoded.append(value)
        return decode_event(value)

    loop = ConsumerLoop(
        settings,
        group_id=group,
        topics=[settings.topics.touchpoints],
        decode=decode,
        handler=handler,
        dead_letters=publisher,
        select=lambda record: header(record.headers, "pick") == b"yes",
    )
    await run_until(loop, done)
    assert sorted(seen) == sorted(e.event_id for e in chosen)
    assert len(decoded) == len(chosen)  # what it passes over it does not even decode
    assert await committed(settings, group, settings.topics.touchpoints) == 50


async def test_undecodable_and_rejected_records_go_to_the_dead_letter_topic(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    good = [page_view(n) for n in range(20)]
    refused = good[7]
    await publish(publisher, settings.topics.touchpoints, good[:10])
    await publisher.publish(settings.topics.touchpoints, b"{not json", key=b"k")
    await publish(publisher, settings.topics.touchpoints, good[10:])
    handled: set[uuid.UUID] = set()
    done = asyncio.Event()

    async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        if any(item.value.event_id == refused.event_id for item in batch):
            raise ValueError("this record breaks a rule of the fold")  # not transient
        handled.update(item.value.event_id for item in batch)
        if len(handled) == len(good) - 1:
            done.set()

    loop = loop_over(settings, handler, publisher)
    await run_until(loop, done)
    assert handled == {event.event_id for event in good} - {refused.event_id}
    dead = await read_all(settings, settings.topics.touchpoints_dlq, 2)
    reasons = sorted(dict(record.headers)["rapport-dlq-reason"].decode() for record in dead)
    assert len(dead) == 2
    assert reasons[0].startswith("handler failed: ValueError")
    assert reasons[1].startswith("undecodable")
    assert {record.value for record in dead} == {b"{not json", encode_event(refused)}


async def test_the_loop_tells_how_far_behind_the_end_of_the_log_it_is(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    events = [page_view(n) for n in range(200)]
    await publish(publisher, settings.topics.touchpoints, events)
    behind_at_each_batch: list[int] = []
    handled = 0
    done = asyncio.Event()

    async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        nonlocal handled
        behind_at_each_batch.append(loop.behind)
        handled += len(batch)
        if handled == len(events):
            done.set()

    loop = loop_over(settings, handler, publisher, max_batch=20)
    await run_until(loop, done)
    # Measured after each batch from the committed positions: most of the log was still
    # ahead after the first ones; at the end, at most the last batch (its commit in flight).
    assert max(behind_at_each_batch) >= 100
    assert loop.behind <= 20


async def test_a_lingering_loop_gathers_what_arrives_after_the_first_records(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    early, late = [page_view(n) for n in range(5)], [page_view(n) for n in range(5, 10)]
    await publish(publisher, settings.topics.touchpoints, early)
    batches: list[list[uuid.UUID]] = []
    done = asyncio.Event()

    async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        batches.append([item.value.event_id for item in batch])
        if sum(map(len, batches)) == len(early) + len(late):
            done.set()

    loop = ConsumerLoop(
        settings,
        group_id=f"group-{uuid.uuid4().hex[:6]}",
        topics=[settings.topics.touchpoints],
        decode=lambda _topic, value: decode_event(value),
        handler=handler,
        dead_letters=publisher,
        linger_ms=3000,
    )

    async def assigned() -> bool | None:
        consumer = loop._consumer
        return True if consumer is not None and consumer.assignment() else None

    async with running(loop):
        # Assigned: its first poll takes the early records at once, and the linger begins.
        await eventually(assigned)
        await asyncio.sleep(0.3)  # a loop without a linger has handled the early ones by now
        await publish(publisher, settings.topics.touchpoints, late)
        await asyncio.wait_for(done.wait(), 20)
    assert [sorted(batch) for batch in batches] == [sorted(e.event_id for e in early + late)]


async def test_stop_lets_the_batch_in_hand_finish_and_commit(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    events = [page_view(n) for n in range(30)]
    await publish(publisher, settings.topics.touchpoints, events)
    group = f"group-{uuid.uuid4().hex[:6]}"
    in_handler = asyncio.Event()
    finished: list[int] = []

    async def slow_handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
        in_handler.set()
        await asyncio.sleep(0.5)  # stop() arrives while the batch is being applied
        finished.append(len(batch))

    loop = loop_over(settings, slow_handler, publisher, group)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(in_handler.wait(), 20)
    loop.stop()
    await asyncio.wait_for(task, 20)
    assert finished, "the batch in hand was finished before stopping"
    assert await committed(settings, group, settings.topics.touchpoints) == sum(finished)


async def test_a_member_that_loses_partitions_while_folding_goes_on(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    """A second member joins while the first folds a batch from every partition: the group
    rebalances and some of those partitions are now the newcomer's. The first member must not
    commit them (the broker client refuses: once, that ended its loop for good, and the
    process went on answering HTTP without folding) and must go on with the partitions it
    kept; every event is handled."""
    group = f"group-{uuid.uuid4().hex[:6]}"
    before = [page_view(n) for n in range(40)]  # keys spread over the 4 partitions
    await publish(publisher, settings.topics.touchpoints, before)
    handled: dict[str, set[uuid.UUID]] = {"first": set(), "second": set()}
    first_folding, newcomer_folded = asyncio.Event(), asyncio.Event()

    def member(name: str) -> Callable[[Sequence[Delivered[TouchpointEvent]]], Awaitable[None]]:
        async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
            if name == "first" and not handled["first"]:
                # The batch in hand outlives the rebalance that hands partitions on.
                first_folding.set()
                await asyncio.wait_for(newcomer_folded.wait(), 60)
            handled[name].update(item.value.event_id for item in batch)
            if name == "second":
                newcomer_folded.set()

        return handler

    first = loop_over(settings, member("first"), publisher, group)
    second = loop_over(settings, member("second"), publisher, group)
    async with running(first) as first_task:
        await asyncio.wait_for(first_folding.wait(), 30)
        async with running(second):
            await asyncio.wait_for(newcomer_folded.wait(), 60)
            after = [page_view(n) for n in range(100, 140)]
            await publish(publisher, settings.topics.touchpoints, after)
            wanted = {event.event_id for event in before + after}
            deadline = time.monotonic() + 30
            while not wanted <= handled["first"] | handled["second"]:
                assert not first_task.done(), f"the first member stopped: {first_task!r}"
                assert time.monotonic() < deadline, "events were left unhandled"
                await asyncio.sleep(0.1)
            assert not first_task.done()
            assert {e.event_id for e in after} & handled["first"], "the first member kept none"


async def test_what_a_member_passed_over_is_committed_before_its_partitions_move(
    settings: KafkaSettings, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An express lane passes over nearly every record and commits that only now and then. When
    a second member joins, the first must commit what it passed over before the partitions
    move: otherwise their new owner gets those records again, and a partition that comes back
    later could be committed behind where the other member left it."""
    monkeypatch.setattr(consumer_module, "PASS_OVER_COMMIT_SECONDS", 3600.0)
    group = f"group-{uuid.uuid4().hex[:6]}"
    topic = settings.topics.touchpoints
    seen: dict[str, list[tuple[int, int]]] = {"first": [], "second": []}

    def member(name: str) -> ConsumerLoop[TouchpointEvent]:
        def select(record: Any) -> bool:
            seen[name].append((record.partition, record.offset))
            return False

        async def handler(batch: Sequence[Delivered[TouchpointEvent]]) -> None:
            raise AssertionError("nothing is selected")

        return ConsumerLoop(
            settings,
            group_id=group,
            topics=[topic],
            decode=lambda _topic, value: decode_event(value),
            handler=handler,
            dead_letters=publisher,
            select=select,
        )

    async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + 30
        while not await condition():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)

    async def first_poll_committed() -> bool:  # a first poll's offsets commit at once
        return len(seen["first"]) == 40 and await committed(settings, group, topic) > 0

    async def first_passed_over_all() -> bool:
        return len(seen["first"]) == 80

    first, second = member("first"), member("second")

    async def second_assigned() -> bool:
        return second._consumer is not None and bool(second._consumer.assignment())

    async with running(first):
        await publish(publisher, topic, [page_view(n) for n in range(40)])
        await until(first_poll_committed, "the first member's first poll was committed")
        await publish(publisher, topic, [page_view(n) for n in range(40, 80)])
        await until(first_passed_over_all, "the first member passed over every record")
        assert await committed(settings, group, topic) < 80  # some held, not committed yet
        assert await first.lag() == 0  # yet what it passed over is done, not behind
        async with running(second):
            await until(second_assigned, "the second member was given partitions")
            assert await committed(settings, group, topic) == 80
            await asyncio.sleep(1)  # the second member's first polls
            assert seen["second"] == [], "the new owner got records passed over already"


async def test_a_groups_lag_is_measured_from_outside_it(
    settings: KafkaSettings, publisher: Publisher
) -> None:
    """Records between the group's committed offsets and the end of each partition; a
    partition it never committed counts as not behind."""
    topic = settings.topics.touchpoints
    await publish(publisher, topic, [page_view(n) for n in range(60)])
    group = f"group-{uuid.uuid4().hex[:6]}"
    partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
    ends = await end_offsets(settings, partitions)
    committed, never = partitions[:-1], partitions[-1]
    # Each committed partition is two records short of its end (or at its start).
    await commit_offsets(settings, group, {tp: max(0, ends[tp] - 2) for tp in committed})
    expected = sum(min(2, ends[tp]) for tp in committed)
    assert ends[never] > 0, "the uncommitted partition should hold records to not count"

    lag = GroupLag(settings, group, [topic], every_seconds=0.05)

    async def measured() -> int | None:
        return lag.behind or None

    async with watching(lag):
        assert await eventually(measured) == expected


async def test_a_groups_lag_is_zero_while_the_broker_cannot_say() -> None:
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=1000)
    lag = GroupLag(dead, "anyone", ["anything"], every_seconds=0.05)
    lag.behind = 7  # as if measured before the broker went away
    async with watching(lag):
        await asyncio.sleep(1.5)
    assert lag.behind == 0
