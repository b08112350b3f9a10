"""A poison message put straight into the touchpoint topic lands in the dead-letter topic with
its reason header, and the stream goes on."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.data import EventFactory
from bench.ledger import Sender, settle
from bench.stack import Stack
from faults.modes import MODES, Durations, FaultReport

pytestmark = pytest.mark.e2e


def poison(marker: str, count: int) -> list[bytes]:
    kinds = [
        b"\x00\xff not even JSON " + marker.encode(),
        b'{"marker": "' + marker.encode() + b'", "type": "no_such_type"}',
        b'{"event_id": "' + marker.encode() + b'"}',
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


async def dead_letters(stack: Stack, marker: bytes, want: int) -> list[dict[str, bytes]]:
    """The headers of dead letters whose payload carries `marker`, read from the beginning."""
    consumer = AIOKafkaConsumer(
        stack.kafka.topics.touchpoints_dlq,
        bootstrap_servers=stack.infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, bytes]] = []
    try:
        for _ in range(120):
            polled = await consumer.getmany(timeout_ms=500)
            for records in polled.values():
                found.extend(
                    dict(record.headers) for record in records if marker in (record.value or b"")
                )
            if len(found) >= want:
                break
    finally:
        await consumer.stop()
    return found


@pytest.mark.parametrize("mode", MODES)
async def test_poison_goes_to_the_dead_letter_topic_and_the_stream_goes_on(
    stack: Stack, mode: Durations, fault_report: FaultReport
) -> None:
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    bad = poison(marker, 3 if mode.name == "short" else 30)
    sender = Sender(lambda: [stack.url("ingest")], stack.admin.bearer)
    load = asyncio.create_task(
        sender.pump(
            EventFactory(seed=23, customers=200), rate=mode.rate, duration=mode.load_seconds
        )
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await asyncio.sleep(mode.load_seconds / 3)  # the poison arrives between good events
        for index, value in enumerate(bad):
            await producer.send_and_wait(
                stack.kafka.topics.touchpoints, value, key=f"{marker}-{index}".encode()
            )
    finally:
        await producer.stop()
    ledger = await load
    counts = await settle(stack, list(ledger.acked))
    # Both consumer groups meet every poison record and each dead-letters it once (or more, if
    # a rebalance redelivers: a dead letter is at-least-once too).
    letters = await dead_letters(stack, marker.encode(), want=2 * len(bad))
    lost = sum(count.missing for count in counts.values())
    doubled = sum(count.duplicates for count in counts.values())
    verdict = "pass" if lost == doubled == 0 and len(letters) >= 2 * len(bad) else "FAIL"
    fault_report.record(f"poison x{len(bad)} ({mode.name})", ledger, counts, verdict)

    assert len(letters) >= 2 * len(bad), f"{len(letters)} dead letters for {len(bad)} poison"
    groups = {headers["rapport-dlq-group"] for headers in letters}
    assert groups == {
        f"{stack.namespace}profile".encode(),
        f"{stack.namespace}recommender".encode(),
    }
    assert all(headers.get("rapport-dlq-reason") for headers in letters)
    assert lost == 0, counts
    assert doubled == 0, counts
