"""The load generator: a separate process (`python -m bench.loadgen SPEC.json`) so that the
client's CPU is not the benchmark process's, and is measured on its own.

A spec names operations (each a short sequence of HTTP requests, timed together: "card + timeline"
is one operation) and either a closed loop (`concurrency` workers as fast as they can: the
maximum rate) or an open loop (`rate` operations/s on a fixed schedule, latency measured from the
scheduled time so that a stalled server cannot hide its queueing). It prints one JSON summary.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from rapport_events.heap import settle_heap


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes | None


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def percentile_spread(
    values: list[float], fraction: float, *, seed: int, resamples: int = 1000
) -> tuple[float, float]:
    """The middle 95% of the `fraction` percentile over bootstrap resamples of `values`: how
    much of a p99 of a few hundred probes is the luck of the draw (not the host's mood, which
    changes between runs too)."""
    draw = random.Random(seed)  # noqa: S311 - a reproducible resample, not a secret
    estimates = sorted(
        percentile(sorted(draw.choices(values, k=len(values))), fraction) for _ in range(resamples)
    )
    return percentile(estimates, 0.025), percentile(estimates, 0.975)


class Run:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.headers = {"Content-Type": "application/json", **spec.get("headers", {})}
        self.operations = [
            [
                Request(r["method"], r["url"], r["body"].encode() if r.get("body") else None)
                for r in op
            ]
            for op in spec["operations"]
        ]
        self.duration = float(spec["duration"])
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.errors = 0
        self.error_kinds: dict[str, int] = {}  # exception class → how many
        self.next_op = 0

    def take(self) -> list[Request]:
        op = self.operations[self.next_op % len(self.operations)]
        self.next_op += 1
        return op

    async def execute(
        self, session: aiohttp.ClientSession, op: list[Request], start: float
    ) -> None:
        try:
            for request in op:
                async with session.request(
                    request.method, request.url, data=request.body, headers=self.headers
                ) as answer:
                    await answer.read()
                    key = str(answer.status)
                    self.statuses[key] = self.statuses.get(key, 0) + 1
            self.latencies.append(time.perf_counter() - start)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.errors += 1
            kind = type(error).__name__
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    async def closed(self, session: aiohttp.ClientSession, concurrency: int) -> None:
        deadline = time.perf_counter() + self.duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await self.execute(session, self.take(), time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def open(self, session: aiohttp.ClientSession, rate: float) -> None:
        start = time.perf_counter()
        total = int(rate * self.duration)
        pending: set[asyncio.Task[None]] = set()
        for index in range(total):
            due = start + index / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.execute(session, self.take(), due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=30)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    run = Run(spec)
    settle_heap()  # the prepared requests: 100,000 and more for a closed run
    connector = aiohttp.TCPConnector(limit=int(spec.get("connections", 64)))
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 10)))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        if spec["mode"] == "closed":
            await run.closed(session, int(spec["concurrency"]))
        else:
            await run.open(session, float(spec["rate"]))
        elapsed = time.perf_counter() - began
    values = sorted(run.latencies)
    return {
        "operations": len(values),
        "errors": run.errors,
        "error_kinds": run.error_kinds,
        "statuses": run.statuses,
        "elapsed_s": elapsed,
        "ops_per_s": len(values) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(values, 0.50) * 1000,
        "p90_ms": percentile(values, 0.90) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": (values[-1] * 1000) if values else float("nan"),
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        loaded = json.load(handle)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    print(json.dumps(asyncio.run(main(loaded))))
