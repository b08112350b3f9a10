"""A rolling restart of every service under load — start a new process, SIGTERM the old one,
one service at a time — loses nothing and counts nothing twice."""

from __future__ import annotations

import asyncio
import signal

import pytest

from bench.data import EventFactory
from bench.ledger import Sender, settle, timeline_counts
from bench.stack import SERVICES, Stack
from faults.modes import MODES, Durations, FaultReport

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", MODES)
async def test_rolling_restart_under_load_loses_nothing(
    stack: Stack, mode: Durations, fault_report: FaultReport
) -> None:
    # The client spreads over every live ingest and moves on when one goes away, as a client
    # behind a Kubernetes Service would.
    sender = Sender(
        lambda: [process.base_url for process in stack.live("ingest")], stack.admin.bearer
    )
    stop = asyncio.Event()
    load = asyncio.create_task(
        sender.pump(EventFactory(seed=31, customers=300), rate=mode.rate, duration=600, stop=stop)
    )
    exit_codes = {}
    try:
        await asyncio.sleep(1)
        for name in SERVICES:
            old = stack.current(name)
            await stack.start(name)
            await asyncio.sleep(mode.load_seconds / len(SERVICES))  # both serve for a while
            exit_codes[name] = await old.terminate()
    finally:
        stop.set()
        ledger = await load
    counts = await settle(stack, list(ledger.acked))
    lost = sum(count.missing for count in counts.values())
    doubled = sum(count.duplicates for count in counts.values())
    verdict = "pass" if lost == doubled == 0 else "FAIL"
    fault_report.record(f"rolling restart ({mode.name})", ledger, counts, verdict)

    # uvicorn re-raises the SIGTERM once it has shut down gracefully: -15 is a clean exit.
    assert set(exit_codes.values()) <= {0, -signal.SIGTERM}, exit_codes
    assert ledger.gave_up == 0
    assert lost == 0, counts
    assert doubled == 0, counts
    for customer, (acked, entries, attempted) in (await timeline_counts(stack, ledger)).items():
        assert acked <= entries <= attempted, (customer, acked, entries, attempted)
