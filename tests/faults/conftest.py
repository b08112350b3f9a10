"""The fault suite's fixtures: the real stack as subprocesses, and the table of verdicts.

Each scenario runs in a short form (inside `make test`) and a full form marked `slow` (only in
`make faults`). Every scenario records a row — events sent, acknowledged, found, duplicates,
verdict — and the table is printed at the end of the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.stack import Infra, Stack
from faults.modes import REPORT, FaultReport
from support.infra import Endpoints

# A client waits at most this long on a 503 in the suite (the service default is 5 s).
FAST_RETRY = {"RAPPORT_RETRY_AFTER_SECONDS": "1"}


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


@pytest.fixture
async def stack(shared_infra: Infra) -> AsyncIterator[Stack]:
    """A fresh stack on the shared broker and server, every service started."""
    async with Stack(shared_infra, label="faults", extra_env=FAST_RETRY) as running:
        await running.start_all()
        yield running
