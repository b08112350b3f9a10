"""Read latency: the card and a 20-entry timeline page over HTTP at a steady request rate.

    set -a; . .local/infra.env; set +a
    .venv/bin/python services/profile/bench/bench_reads.py --customers 100000 --per-customer 10

Builds a fresh database of `customers` profiles (two identifiers each) and
`customers * per-customer` interactions with SQL (`rapport_profile.store.synthetic`, shared
with `make bench`), starts the profile API in `--workers` processes of its own (consumer off;
requests are spread over them as a Kubernetes Service would), then this process sends card and
timeline requests for random customers, open loop at each `--rate` requests/s (half each), and
in the same run times a `SELECT 1` round trip to PostgreSQL and `/healthz` over HTTP (the
floors). Then a closed loop (`--concurrency` requests in flight) gives the most requests/s the
API serves, beside `/healthz` served the same way. Prints p50/p90/p99/max per kind and the API
processes' CPU per request. Nothing is asserted: it is a measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
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
from rich.progress import Progress

from rapport_events.auth import Scope, hash_key, new_key
from rapport_events.db import upgrade_schema
from rapport_profile.store import MIGRATIONS
from rapport_profile.store.synthetic import seed, synthetic_profile_id


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


class Servers:
    """The API processes' clients, taken in turn per request."""

    def __init__(self, clients: list[RawHttp]) -> None:
        self.clients = clients
        self._turn = itertools.cycle(clients)

    async def get(self, path: str) -> int:
        return await next(self._turn).get(path)


def read_path(rng: random.Random, customers: int, i: int) -> tuple[str, str]:
    """Half cards, half 20-entry timeline pages, of random customers."""
    pid = synthetic_profile_id(rng.randrange(customers))
    if i % 2 == 0:
        return "card", f"/v1/customers/{pid}"
    return "timeline", f"/v1/customers/{pid}/timeline?limit=20"


async def load(
    http: Servers, dsn: str, customers: int, rate: float, seconds: float
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"card": [], "timeline": [], "healthz": [], "select 1": []}
    errors: dict[str, int] = {}
    rng = random.Random(1)  # noqa: S311 - a reproducible pick, not a secret
    pg = await asyncpg.create_pool(dsn, min_size=2, max_size=4)

    async def read(i: int) -> None:
        kind, path = read_path(rng, customers, i)
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
    await pg.close()
    if errors:
        print(f"errors: {errors}")
    return times


async def most(http: Servers, customers: int, seconds: float, concurrency: int) -> dict[str, float]:
    """Requests/s served with `concurrency` in flight (closed loop): reads, then /healthz."""
    rng = random.Random(2)  # noqa: S311 - a reproducible pick, not a secret
    rates = {}
    for kind in ("reads", "healthz"):
        served = [0]

        async def worker(kind: str, deadline: float, served: list[int]) -> None:
            while time.perf_counter() < deadline:
                path = read_path(rng, customers, served[0])[1] if kind == "reads" else "/healthz"
                if await http.get(path) == 200:
                    served[0] += 1

        began = time.perf_counter()
        deadline = began + seconds
        await asyncio.gather(*(worker(kind, deadline, served) for _ in range(concurrency)))
        rates[kind] = served[0] / (time.perf_counter() - began)
    return rates


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


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rapport_profile", "api"], env={**env, "RAPPORT_PORT": str(port)}
    )


async def main(args: argparse.Namespace) -> None:
    base_url = os.environ["DATABASE_URL"]
    admin_dsn = base_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_reads_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base_url.rsplit("/", 1)[0] + "/" + name
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    servers: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(upgrade_schema, MIGRATIONS, url)
        began = time.perf_counter()
        with Progress() as progress:
            bar = progress.add_task("building the data set", total=args.customers)
            await seed(
                dsn,
                args.customers,
                args.per_customer,
                progress=lambda done: progress.update(bar, completed=done),
            )
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
            "RAPPORT_LOG_LEVEL": "WARNING",
        }
        ports = [args.port + index for index in range(args.workers)]
        servers = [start_api(env, port) for port in ports]
        for port, server in zip(ports, servers, strict=True):
            await wait_ready(f"http://127.0.0.1:{port}", server)
        headers = {"Authorization": f"Bearer {key}"}
        clients = [RawHttp("127.0.0.1", port, headers, connections=64) for port in ports]
        for client in clients:
            await client.open()
        http = Servers(clients)
        label = f"{args.workers} API process{'es' if args.workers > 1 else ''}"
        for rate in args.rate:
            cpu_before = sum(cpu_seconds(server.pid) for server in servers)
            times = await load(http, dsn, args.customers, rate, args.seconds)
            served = sum(len(samples) for kind, samples in times.items() if kind != "select 1")
            cpu = sum(cpu_seconds(server.pid) for server in servers) - cpu_before
            print(
                f"{rate:.0f} req/s for {args.seconds:.0f} s (half card, half 20-entry page) on "
                f"{label}; API CPU {cpu * 1000 / max(served, 1):.2f} ms per request, "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:"
            )
            for kind, samples in times.items():
                print(f"  {kind:<9} {percentiles(samples)}")
        if args.concurrency:
            rates = await most(http, args.customers, args.seconds, args.concurrency)
            print(
                f"closed loop, {args.concurrency} in flight on {label}: "
                f"reads {rates['reads']:.0f} req/s, /healthz {rates['healthz']:.0f} req/s, "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        for client in clients:
            await client.close()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(20)
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--per-customer", type=int, default=10)
    parser.add_argument("--rate", type=float, nargs="+", default=[50, 500])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--port", type=int, default=8712, help="the first API process's port")
    parser.add_argument("--workers", type=int, default=1, help="API processes")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="closed-loop requests in flight; 0: skip"
    )
    asyncio.run(main(parser.parse_args()))
