"""The broker or the database stopped for 10 s under load, on a PRIVATE Kafka or PostgreSQL
(the shared ones serve everyone else on the machine): ingest answers 503 + Retry-After, the
client retries, consumers pause and retry without committing; afterwards nothing is lost and
everything resumes by itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from bench.data import EventFactory
from bench.ledger import Sender, settle
from bench.stack import Infra, PrivateKafka, PrivatePostgres, Stack
from faults.modes import FAST_RETRY, MODES, Durations, FaultReport

# Starting a private broker or server and a stack on it takes a minute on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture
async def private_kafka() -> AsyncIterator[PrivateKafka]:
    kafka = PrivateKafka()
    await kafka.start()
    yield kafka
    await kafka.destroy()


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    await postgres.start()
    yield postgres
    await postgres.destroy()


# OPEN BUG, kept visible in `make faults` and out of `make test` until fixed: under this
# harness, after the private broker restarts, ingest answered 503 to the 32 events in flight for
# the whole 120 s retry window (no acknowledged event was lost; those 33 were never accepted).
# A direct repro (ingest against a broker stopped for 10 s, 32 concurrent posters) recovers
# within 5 s, so the cause is still unknown; see the closing note of the bench/faults issue.
KAFKA_OUTAGE_MODES = [
    pytest.param(mode.values[0], id=mode.id, marks=pytest.mark.slow) for mode in MODES
]


@pytest.mark.parametrize("mode", KAFKA_OUTAGE_MODES)
async def test_kafka_down_for_ten_seconds_loses_nothing(
    private_kafka: PrivateKafka, shared_infra: Infra, mode: Durations, fault_report: FaultReport
) -> None:
    infra = Infra(private_kafka.bootstrap, shared_infra.database_url)
    async with Stack(infra, label="faults", extra_env=FAST_RETRY) as stack:
        await stack.start_all()
        sender = Sender(lambda: [stack.url("ingest")], stack.admin.bearer, give_up_after=120)
        stop = asyncio.Event()
        load = asyncio.create_task(
            sender.pump(
                EventFactory(seed=41, customers=300), rate=mode.rate, duration=600, stop=stop
            )
        )
        try:
            await asyncio.sleep(mode.load_seconds / 2)
            await private_kafka.stop()
            await asyncio.sleep(mode.outage_seconds)
            during = dict(sender.ledger.statuses)
            await private_kafka.start()
            await asyncio.sleep(mode.load_seconds / 2)
        finally:
            stop.set()
            ledger = await load
        counts = await settle(stack, list(ledger.acked), within=180)
        lost = sum(count.missing for count in counts.values())
        doubled = sum(count.duplicates for count in counts.values())
        verdict = "pass" if lost == doubled == 0 and during.get(503) else "FAIL"
        fault_report.record(
            f"Kafka down {mode.outage_seconds:.0f} s ({mode.name})", ledger, counts, verdict
        )

        assert during.get(503), f"no 503 while Kafka was down: {during}"
        assert 500 not in ledger.statuses, ledger.statuses
        assert ledger.gave_up == 0
        assert lost == 0, counts
        assert doubled == 0, counts


async def read_statuses(stack: Stack, stop: asyncio.Event) -> dict[int, int]:
    """Profile reads while the database is away: what they answer."""
    seen: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=stack.url("profile"), timeout=10) as client:
        while not stop.is_set():
            answer = await client.get(
                f"/v1/customers/{uuid.uuid4()}/timeline", headers=stack.admin.bearer
            )
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
            await asyncio.sleep(0.2)
    return seen


@pytest.mark.parametrize("mode", MODES)
async def test_postgres_down_for_ten_seconds_loses_nothing(
    private_postgres: PrivatePostgres,
    shared_infra: Infra,
    mode: Durations,
    fault_report: FaultReport,
) -> None:
    infra = Infra(shared_infra.kafka_bootstrap, private_postgres.database_url)
    async with Stack(infra, label="faults", extra_env=FAST_RETRY) as stack:
        await stack.start_all()
        sender = Sender(lambda: [stack.url("ingest")], stack.admin.bearer)
        stop = asyncio.Event()
        load = asyncio.create_task(
            sender.pump(
                EventFactory(seed=43, customers=300), rate=mode.rate, duration=600, stop=stop
            )
        )
        try:
            await asyncio.sleep(mode.load_seconds / 2)
            await private_postgres.stop()
            reads_stop = asyncio.Event()
            reads = asyncio.create_task(read_statuses(stack, reads_stop))
            await asyncio.sleep(mode.outage_seconds)
            reads_stop.set()
            during = await reads
            await private_postgres.start()
            await asyncio.sleep(mode.load_seconds / 2)
        finally:
            stop.set()
            ledger = await load
        counts = await settle(stack, list(ledger.acked), within=180)
        lost = sum(count.missing for count in counts.values())
        doubled = sum(count.duplicates for count in counts.values())
        verdict = "pass" if lost == doubled == 0 else "FAIL"
        if 500 in during:
            verdict += f"; reads answered 500 x{during[500]} (want 503)"
        fault_report.record(
            f"PostgreSQL down {mode.outage_seconds:.0f} s ({mode.name})", ledger, counts, verdict
        )

        assert ledger.gave_up == 0
        assert lost == 0, counts
        assert doubled == 0, counts
        assert 200 not in during
        assert set(during) <= {503}, during  # never a 500 while the database is away
