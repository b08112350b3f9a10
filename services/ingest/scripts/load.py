"""Measure ingest on this machine: batch events/s against a bare aiokafka producer, single-event
req/s per worker, latency at a fixed 1,000 req/s, and the worker's memory.

    .venv/bin/python services/ingest/scripts/load.py [--seconds 10] [--profile]

Ingest runs as its own process (`python -m rapport_ingest`, one uvicorn worker); the load
comes from another process over loopback, on raw keep-alive HTTP/1.1 so that the client costs
little next to the server. Needs the broker of KAFKA_BOOTSTRAP_SERVERS; writes to topics under
a namespace of its own. Figures only: nothing here asserts a target (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import uvloop
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rapport_events.auth import hash_key, new_key
from rapport_events.kafka import ensure_topics
from rapport_events.settings import KafkaSettings
from rapport_ingest.api.examples import EXAMPLES, example_event

console = Console(stderr=True)
KIND_CYCLE = [kind for kind in EXAMPLES if EXAMPLES[kind][0] != "store"] + ["store_purchase"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- payloads: unique event ids, so that nothing is answered from the recent-id memory -------

ID_MARK = b"0b7e8f3a-9c1d-4e2f-8a6b-5d4c3b2a1f00"


def templates() -> list[list[bytes]]:
    """Each event type's JSON, split around its event id."""
    now = datetime.now(UTC)
    return [orjson.dumps(example_event(kind, at=now)).split(ID_MARK) for kind in KIND_CYCLE]


class Ids:
    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:8]
        self.counter = 0

    def next(self) -> bytes:
        self.counter += 1
        return f"{self.prefix}-0000-4000-8000-{self.counter:012x}".encode()


def event_bytes(parts: list[bytes], ids: Ids) -> bytes:
    return parts[0] + ids.next() + parts[1]


def batch_body(parts: list[list[bytes]], ids: Ids, size: int) -> bytes:
    events = [event_bytes(parts[i % len(parts)], ids) for i in range(size)]
    return b'{"events":[' + b",".join(events) + b"]}"


# --- a minimal keep-alive HTTP/1.1 client ----------------------------------------------------


class Connection:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.head = (
            f"Host: ingest\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        ).encode()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            b"POST " + path + b" HTTP/1.1\r\n" + self.head
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


# --- load generators (run in a separate process) ---------------------------------------------


@dataclass
class Result:
    name: str
    count: float
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def closed_loop(
    port: int, key: str, path: bytes, make_body: Any, per_request: int, conns: int, seconds: float
) -> Result:
    """`conns` connections, each posting as fast as answers come back."""
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        connection = Connection(port, key)
        await connection.open()
        while time.perf_counter() < stop:
            body = make_body()
            started = time.perf_counter()
            status, _ = await connection.post(path, body)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                done += per_request

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return Result(path.decode(), done, time.perf_counter() - started, latencies, statuses)


async def open_loop(port: int, key: str, rate: int, seconds: float, conns: int) -> Result:
    """Requests scheduled at a fixed rate; latency counted from the scheduled moment, so a slow
    answer that delays the next request is not hidden (no coordinated omission)."""
    parts, ids = templates(), Ids()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(conns):
        connection = Connection(port, key)
        await connection.open()
        pool.put_nowait(connection)
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def one(due: float, body: bytes) -> None:
        connection = await pool.get()
        status, _ = await connection.post(b"/v1/events", body)
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait(connection)

    tasks = []
    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, event_bytes(parts[n % len(parts)], ids))))
    await asyncio.gather(*tasks)
    return Result("open", statuses.get(202, 0), time.perf_counter() - start, latencies, statuses)


async def bare_producer(bootstrap: str, topic: str, batches: int, size: int) -> Result:
    """The same event payloads, straight into aiokafka with the publisher's settings."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type="lz4",
    )
    await producer.start()
    parts, ids = templates(), Ids()
    try:
        started = time.perf_counter()
        for _ in range(batches):
            futures = [
                await producer.send(topic, event_bytes(parts[i % len(parts)], ids), key=b"k%d" % i)
                for i in range(size)
            ]
            await asyncio.gather(*futures)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return Result("bare", batches * size, seconds, [], {})


def run_in_process(name: str, args: dict[str, Any], queue: Any) -> None:
    uvloop.install()
    if name == "batch":
        parts, ids = templates(), Ids()
        size = args["batch"]
        coroutine: Any = closed_loop(
            args["port"], args["key"], b"/v1/events/batch",
            lambda: batch_body(parts, ids, size), size, args["conns"], args["seconds"],
        )  # fmt: skip
    elif name == "single":
        parts, ids = templates(), Ids()
        counter = iter(range(10**9))
        coroutine = closed_loop(
            args["port"], args["key"], b"/v1/events",
            lambda: event_bytes(parts[next(counter) % len(parts)], ids), 1,
            args["conns"], args["seconds"],
        )  # fmt: skip
    elif name == "open":
        coroutine = open_loop(args["port"], args["key"], args["rate"], args["seconds"], 64)
    else:
        coroutine = bare_producer(args["bootstrap"], args["topic"], args["batches"], args["batch"])
    result: Result = asyncio.run(coroutine)
    queue.put(result)


def generate(name: str, **args: Any) -> Result:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=run_in_process, args=(name, args, queue))
    process.start()
    result: Result = queue.get(timeout=600)
    process.join()
    return result


# --- the server under test -------------------------------------------------------------------


def start_ingest(
    key: str, port: int, namespace: str, profile: Path | None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RAPPORT_PORT": str(port),
        "RAPPORT_API_KEYS": json.dumps(
            [{"name": "load", "sha256": hash_key(key), "scopes": ["events:write"]}]
        ),
        "RAPPORT_LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_NAMESPACE": namespace,
    }
    command = [sys.executable, "-m", "rapport_ingest"]
    if profile is not None:
        command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(profile),
                   "-m", "rapport_ingest"]  # fmt: skip
    process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and module
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("ingest did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--profile", type=Path, help="run ingest under pyinstrument, report here")
    parser.add_argument("--only", choices=["batch", "single", "open", "bare"], action="append")
    options = parser.parse_args()
    wanted = options.only or ["bare", "batch", "single", "open"]

    kafka = KafkaSettings(topic_namespace=f"bench-ingest-{uuid.uuid4().hex[:6]}.", partitions=12)
    asyncio.run(ensure_topics(kafka))
    key, port = new_key(), free_port()
    server = start_ingest(key, port, kafka.topic_namespace, options.profile)
    ingest = psutil.Process(server.pid)
    results: dict[str, Result] = {}
    rss: dict[str, float] = {"idle": ingest.memory_info().rss / 2**20}
    common = {"port": port, "key": key, "seconds": options.seconds}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("measuring", total=len(wanted))
        for name in wanted:
            progress.update(task, description=f"measuring {name}")
            if name == "bare":
                batches = max(20, int(options.seconds * 60_000 / options.batch))
                results[name] = generate(
                    "bare", bootstrap=kafka.bootstrap_servers, topic=kafka.topics.touchpoints,
                    batches=batches, batch=options.batch,
                )  # fmt: skip
            elif name == "batch":
                results[name] = generate(name, **common, batch=options.batch, conns=4)
            elif name == "single":
                results[name] = generate(name, **common, conns=32)
            else:
                results[name] = generate(name, **common, rate=1000)
            rss[name] = ingest.memory_info().rss / 2**20
            progress.advance(task)
    server.send_signal(signal.SIGINT)
    server.wait(60)

    table = Table(title=f"ingest on this machine ({os.cpu_count()} cores, shared)")
    for column in ("measure", "rate", "p50 ms", "p99 ms", "statuses", "ingest RSS MB"):
        table.add_column(column)
    units = {"bare": "ev/s", "batch": "ev/s", "single": "req/s", "open": "req/s"}
    for name, result in results.items():
        table.add_row(
            name,
            f"{result.rate:,.0f} {units[name]}",
            f"{percentile(result.latencies, 0.5) * 1000:.1f}" if result.latencies else "-",
            f"{percentile(result.latencies, 0.99) * 1000:.1f}" if result.latencies else "-",
            json.dumps(result.statuses),
            f"{rss[name]:.0f}",
        )
    console.print(table)
    if "bare" in results and "batch" in results:
        ratio = results["batch"].rate / results["bare"].rate
        console.print(f"batch endpoint / bare producer: {ratio:.0%}")
    peak = max(rss.values())
    console.print(f"ingest RSS: idle {rss['idle']:.0f} MB, peak sampled {peak:.0f} MB")


if __name__ == "__main__":
    main()
