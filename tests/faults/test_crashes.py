"""kill -9 of a consumer in the middle of folding a burst, then a restart: nothing lost, nothing
counted twice (the offsets are committed only after the fold's transaction)."""

from __future__ import annotations

import asyncio

import pytest

from bench.data import EventFactory
from bench.ledger import Sender, settle, timeline_counts
from bench.stack import Stack, read_only_query
from faults.modes import MODES, Durations, FaultReport

pytestmark = pytest.mark.e2e


async def folded(stack: Stack, service: str) -> int:
    rows = await read_only_query(stack.databases[service], "SELECT count(*) FROM processed_events")
    return int(rows[0][0])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("victim", ["profile", "recommender"])
async def test_kill_9_mid_fold_then_restart_loses_nothing(
    stack: Stack, victim: str, mode: Durations, fault_report: FaultReport
) -> None:
    sender = Sender(lambda: [stack.url("ingest")], stack.admin.bearer)
    factory = EventFactory(seed=11, customers=300)
    load = asyncio.create_task(sender.pump(factory, rate=mode.rate, duration=mode.load_seconds))
    # Kill once the victim is visibly folding, well before the burst is over.
    for _ in range(600):
        if await folded(stack, victim) >= mode.rate:
            break
        await asyncio.sleep(0.1)
    before = await folded(stack, victim)
    await stack.current(victim).kill()
    await asyncio.sleep(0.5)
    await stack.start(victim)
    ledger = await load
    counts = await settle(stack, list(ledger.acked))
    lost = sum(count.missing for count in counts.values())
    doubled = sum(count.duplicates for count in counts.values())
    verdict = "pass" if lost == doubled == 0 and before > 0 else "FAIL"
    fault_report.record(f"kill -9 {victim} ({mode.name})", ledger, counts, verdict)

    assert before > 0, f"{victim} had folded nothing before the kill"
    # Not a speed check (a busy machine acknowledges fewer): only that there was a burst.
    assert len(ledger.acked) >= 100, ledger.statuses
    assert lost == 0, counts
    assert doubled == 0, counts
    for customer, (acked, entries, attempted) in (await timeline_counts(stack, ledger)).items():
        assert acked <= entries <= attempted, (customer, acked, entries, attempted)
