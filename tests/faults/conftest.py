"""The fault suite's fixtures: the real stack as subprocesses, and the table of verdicts.

Each scenario runs in a short form (inside `make test`) and a full form marked `slow` (only in
`make faults`). Every scenario records a row — events sent, acknowledged, found, duplicates,
verdict — and the table is printed at the end of the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.stack import Infra, Stack, make_key
from faults.modes import FAST_RETRY, REPORT, FaultReport
from rapport_events.auth import Scope
from support.infra import Endpoints


@pytest.fixture(scope="session")
def fault_report() -> FaultReport:
    return REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT.rows:
        terminalreporter.section("fault suite")
        for line in REPORT.lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def shared_infra(infra: Endpoints) -> Infra:
    return Infra(infra.kafka_bootstrap, infra.database_url)


@pytest.fixture(scope="session")
async def stack(shared_infra: Infra) -> AsyncIterator[Stack]:
    """One stack on the shared broker and server for the scenarios that leave it healthy
    (each checks only its own events); starting processes costs seconds on this machine."""
    keys = [make_key(f"only-{scope}", scope) for scope in Scope.ALL]
    keys.append(make_key("nothing", "metrics:read"))
    async with Stack(shared_infra, label="faults", extra_env=FAST_RETRY, keys=keys) as running:
        await running.start_all()
        yield running
