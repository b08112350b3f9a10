"""How hard each fault scenario pushes, and the table of verdicts the suite prints."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bench.ledger import Ledger, StoreCount


@dataclass(frozen=True)
class Durations:
    """The short form keeps `make test` quick; the full form runs in `make faults`."""

    name: str
    rate: float  # events/s posted during the scenario
    load_seconds: float  # how long the load runs
    outage_seconds: float  # how long a broker/database stays down
    examples: int  # schemathesis examples per operation


# A client waits at most this long on a 503 in the suite (the service default is 5 s).
FAST_RETRY = {"RAPPORT_RETRY_AFTER_SECONDS": "1"}

SHORT = Durations("short", rate=100, load_seconds=6, outage_seconds=10, examples=10)
FULL = Durations("full", rate=300, load_seconds=30, outage_seconds=10, examples=100)
MODES = [pytest.param(SHORT, id="short"), pytest.param(FULL, id="full", marks=pytest.mark.slow)]


@dataclass
class Row:
    scenario: str
    sent: int
    acknowledged: int
    found: str
    duplicates: str
    verdict: str


@dataclass
class FaultReport:
    rows: list[Row] = field(default_factory=list)

    def record(
        self, scenario: str, ledger: Ledger, counts: dict[str, StoreCount], verdict: str
    ) -> None:
        self.rows.append(
            Row(
                scenario,
                ledger.sent,
                len(ledger.acked),
                " / ".join(f"{name} {count.found}" for name, count in counts.items()),
                " / ".join(f"{name} {count.duplicates}" for name, count in counts.items()),
                verdict,
            )
        )

    def lines(self) -> list[str]:
        header = ("scenario", "sent", "acknowledged", "found", "duplicates", "verdict")
        table = [
            header,
            *[
                (r.scenario, str(r.sent), str(r.acknowledged), r.found, r.duplicates, r.verdict)
                for r in self.rows
            ],
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]


REPORT = FaultReport()
