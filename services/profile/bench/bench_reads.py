"""Read latency: the card and a 20-entry timeline page over HTTP at a steady request rate.

    set -a; . .local/infra.env; set +a
    .venv/bin/python services/profile/bench/bench_reads.py --customers 100000 --per-customer 10

Builds a fresh database of `customers` profiles (two identifiers each) and
`customers * per-customer` interactions with SQL (the fold would take too long for a read
benchmark), starts the profile API in its own process (consumer off), then this process
sends card and timeline requests for random customers, open loop at `--rate` requests/s
(half each), and in the same run times a `SELECT 1` round trip to PostgreSQL and `/healthz`
over HTTP (the floors). Prints p50/p90/p99/max per kind. Nothing is asserted: it is a measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import httpx
from rich.progress import track

from rapport_events.auth import Scope, hash_key, new_key
from rapport_events.db import upgrade_schema
from rapport_profile.store import MIGRATIONS

STATE = json.dumps(
    {
        "currency": "GBP",
        "recent_orders": ["2026-05-01T10:00:00+00:00", "2025-11-02T10:00:00+00:00"],
        "first_order_at": "2024-03-01T10:00:00+00:00",
        "channels": {"web": 6, "email": 2, "store": 1, "call_center": 1},
        "inbound_channels": {"web": 6, "store": 1, "call_center": 1},
        "traits": {"first_name": {"value": "Ada", "at": "2026-01-01T00:00:00+00:00"}},
        "preferences": {"size": {"value": "M", "at": "2026-01-01T00:00:00+00:00"}},
        "consent": {"marketing:email": {"value": True, "at": "2026-01-01T00:00:00+00:00"}},
        "cases": {},
        "offers": {"presented": 2},
        "context_country": {"value": "GB", "at": "2026-01-01T00:00:00+00:00"},
    }
)
# Profile and event ids derived from numbers, so that the load can pick customers at random.
PROFILE_ID = "md5('profile-' || g)::uuid"


def profile_id(number: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"profile-{number}".encode()).hexdigest())  # noqa: S324


async def build(dsn: str, customers: int, per_customer: int, chunk: int = 10_000) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for start in track(range(0, customers, chunk), description="building the data set"):
            low, high = start, min(start + chunk, customers) - 1
            await conn.execute(
                f"""
                INSERT INTO profiles (profile_id, created_at, first_seen, last_seen, orders,
                    revenue, refunds, last_order_at, lifecycle_stage, lifecycle_why,
                    value_tier, version, state)
                SELECT {PROFILE_ID}, now() - interval '700 days', now() - interval '700 days',
                       now() - interval '1 day', 3, 120.50, 10, now() - interval '30 days',
                       'active', 'bought 30 days ago', 'standard', 1, $3::jsonb
                FROM generate_series($1::int, $2::int) g
                """,  # noqa: S608 - constants only
                low,
                high,
                STATE,
            )
            await conn.execute(
                f"""
                INSERT INTO identities (kind, value, profile_id, first_seen)
                SELECT kind, value, {PROFILE_ID}, now() - interval '700 days'
                FROM generate_series($1::int, $2::int) g,
                     LATERAL (VALUES ('email', 'c' || g || '@example.com'),
                                     ('anonymous_id', 'anon-' || g)) AS i(kind, value)
                """,  # noqa: S608
                low,
                high,
            )
            await conn.execute(
                f"""
                INSERT INTO interactions (profile_id, occurred_at, event_id, channel, type,
                                          summary, details, amount)
                SELECT {PROFILE_ID}, now() - random() * interval '700 days',
                       md5('event-' || g || '-' || k)::uuid,
                       (ARRAY['web', 'web', 'email', 'store', 'call_center'])[1 + k % 5],
                       (ARRAY['page_viewed', 'product_viewed', 'email_opened',
                              'store_purchase', 'call_started'])[1 + k % 5],
                       'Viewed product Linen shirt',
                       jsonb_build_object('url', '/p/' || k, 'locale', 'en-GB'),
                       CASE WHEN k % 5 = 3 THEN 19.00 END
                FROM generate_series($1::int, $2::int) g, generate_series(1, $3::int) k
                """,  # noqa: S608
                low,
                high,
                per_customer,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


class RawHttp:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams: httpx spends milliseconds
    of CPU a request, which on a shared 2-core machine saturates the load process itself and
    shows up as server latency."""

    def __init__(self, host: str, port: int, headers: dict[str, str], connections: int) -> None:
        self._host, self._port = host, port
        self._extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._connections = connections

    async def open(self) -> None:
        for _ in range(self._connections):
            self._idle.put_nowait(await asyncio.open_connection(self._host, self._port))

    async def get(self, path: str) -> int:
        reader, writer = await self._idle.get()
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._extra}\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            reader, writer = await asyncio.open_connection(self._host, self._port)
            status = 599
        self._idle.put_nowait((reader, writer))
        return status

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return (
        f"n={len(ms):>6}  p50 {q[49]:6.2f} ms  p90 {q[89]:6.2f} ms  p99 {q[98]:6.2f} ms  "
        f"max {ms[-1]:7.2f} ms"
    )


async def open_loop(
    rate: float, seconds: float, request: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Start request i at i/rate s: a slow answer does not slow the arrivals (no coordinated
    omission)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = []
    for i in range(int(rate * seconds)):
        delay = started + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(request(i)))
    await asyncio.gather(*tasks)


async def load(
    base: str, key: str, dsn: str, customers: int, rate: float, seconds: float
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"card": [], "timeline": [], "healthz": [], "select 1": []}
    errors: dict[str, int] = {}
    rng = random.Random(1)  # noqa: S311 - a reproducible pick, not a secret
    pg = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    host, port = base.removeprefix("http://").split(":")
    http = RawHttp(host, int(port), {"Authorization": f"Bearer {key}"}, connections=64)
    await http.open()

    async def read(i: int) -> None:
        pid = profile_id(rng.randrange(customers))
        kind = "card" if i % 2 == 0 else "timeline"
        path = f"/v1/customers/{pid}" + ("" if kind == "card" else "/timeline?limit=20")
        began = time.perf_counter()
        status = await http.get(path)
        elapsed = time.perf_counter() - began
        if status != 200:
            errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1
            return
        times[kind].append(elapsed)

    async def floor(i: int) -> None:
        began = time.perf_counter()
        if i % 2 == 0:
            await pg.fetchval("SELECT 1")
            times["select 1"].append(time.perf_counter() - began)
        else:
            await http.get("/healthz")
            times["healthz"].append(time.perf_counter() - began)

    await open_loop(50, 2, read)  # warm the connection pools
    for samples in times.values():
        samples.clear()
    await asyncio.gather(open_loop(rate, seconds, read), open_loop(rate / 10, seconds, floor))
    await http.close()
    await pg.close()
    if errors:
        print(f"errors: {errors}")
    return times


async def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError("the API process exited")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def main(args: argparse.Namespace) -> None:
    base_url = os.environ["DATABASE_URL"]
    admin_dsn = base_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_reads_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base_url.rsplit("/", 1)[0] + "/" + name
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    server: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(upgrade_schema, MIGRATIONS, url)
        began = time.perf_counter()
        await build(dsn, args.customers, args.per_customer)
        print(
            f"data set: {args.customers:,} profiles, {args.customers * args.per_customer:,} "
            f"interactions, built in {time.perf_counter() - began:.0f} s"
        )
        key = new_key()
        keys = [{"name": "bench", "sha256": hash_key(key), "scopes": [Scope.PROFILES_READ]}]
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "RAPPORT_API_KEYS": json.dumps(keys),
            "RAPPORT_PORT": str(args.port),
            "RAPPORT_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the clock runs
            [sys.executable, "-m", "rapport_profile", "api"], env=env
        )
        base = f"http://127.0.0.1:{args.port}"
        await wait_ready(base, server)
        for rate in args.rate:
            cpu_before = cpu_seconds(server.pid)
            times = await load(base, key, dsn, args.customers, rate, args.seconds)
            served = sum(len(samples) for kind, samples in times.items() if kind != "select 1")
            cpu = cpu_seconds(server.pid) - cpu_before
            print(
                f"{rate:.0f} req/s for {args.seconds:.0f} s (half card, half 20-entry page); "
                f"API process CPU {cpu * 1000 / max(served, 1):.2f} ms per request, "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:"
            )
            for kind, samples in times.items():
                print(f"  {kind:<9} {percentiles(samples)}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--per-customer", type=int, default=10)
    parser.add_argument("--rate", type=float, nargs="+", default=[50, 500])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--port", type=int, default=8712)
    asyncio.run(main(parser.parse_args()))
