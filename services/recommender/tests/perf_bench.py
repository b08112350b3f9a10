"""Recommender benchmark (not a test: pytest does not collect perf_*.py; speed is measured
here, never asserted). Needs the running infra:

    set -a; . /work/main/.local/infra.env; set +a
    .venv/bin/python services/recommender/tests/perf_bench.py [--events 20000] [--profile DIR]

The service runs as its own process (`rapport-recommender serve`: consumer, re-ranker and API,
as deployed), so that this process only produces, listens and measures.

1. fold: a preloaded topic of realistic events (Zipf-active customers, Zipf-popular skus,
   every customer identified so that every event marks its customer for re-ranking) folded
   by the service, beside a bare COPY of the same rows in the same run; then how long the
   re-ranker takes to rank every marked customer after the fold has caught up;
2. event → changed offer on the offers topic at --rate events/s (the first order of fresh
   identified customers, among Zipf traffic of the others), beside a plain Kafka
   produce → consume round trip at the same rate in the same run;
3. GET offers at --get-rate requests/s from a separate load-generator process against
   `rapport-recommender api` in another process.

--profile DIR runs the service under pyinstrument and writes its profile there; --split runs
the fold (`serve` without background work) and the re-ranker and pair merger (`work`, which
polls every 50 ms instead of being woken) as two processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from rapport_events.changes import Identified, encode_change
from rapport_events.codec import encode_event
from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent, parse_event
from rapport_events.identity import IdentityKind, identifier_hash, message_key
from rapport_events.kafka import BrokerUnavailable, Publisher, delete_topics, ensure_topics
from rapport_events.settings import KafkaSettings
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import MIGRATIONS
from support.fixtures import database_settings
from support.infra import create_database, drop_database
from support.keys import ApiKeys, make_keys

console = Console()


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (rank + 1) ** s for rank in range(n)]


def email_of(customer: int, tag: str) -> str:
    return f"c{customer}-{tag}@bench.example"


def make_event(rng: random.Random, email: str, skus: list[str], weights: list[float]) -> Any:
    at = datetime.now(UTC) - timedelta(days=rng.uniform(0, 120))
    common = {"channel": "web", "occurred_at": at.isoformat(), "identity": {"email": email}}
    if rng.random() < 0.3:
        sku = rng.choices(skus, weights)[0]
        return parse_event({**common, "type": "product_viewed", "properties": {"sku": sku}})
    lines = {
        sku: {"sku": sku, "name": f"Item {sku}", "quantity": rng.randint(1, 24), "price": 2.5}
        for sku in rng.choices(skus, weights, k=rng.randint(1, 8))
    }
    return parse_event(
        {
            **common,
            "type": "order_completed",
            "context": {"country": rng.choice(["GB", "GB", "GB", "FR", "DE"])},
            "properties": {
                "order_id": uuid.uuid4().hex,
                "items": list(lines.values()),
                "total": 10.0,
                "currency": "GBP",
            },
        }
    )


def identified(profile_id: uuid.UUID, email: str) -> bytes:
    change = Identified(
        profile_id=profile_id,
        changed_at=datetime.now(UTC),
        identifier_hashes=[identifier_hash(IdentityKind.EMAIL, email)],
    )
    return encode_change(change)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def paced(rate: float, seconds: float, send: Any) -> None:
    """Open loop: the i-th send starts at start + i/rate, whatever the previous ones take (each
    is a task of its own: awaiting every acknowledgement in turn would cap the rate at one
    round trip per send)."""
    start = time.perf_counter()
    sending: list[asyncio.Task[None]] = []
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sending.append(asyncio.create_task(send(i)))
    await asyncio.gather(*sending)


async def count_processed(db: Database) -> int:
    async with db.connection() as conn:
        from sqlalchemy import text

        return int(await conn.scalar(text("SELECT count(*) FROM processed_events")) or 0)


async def copy_baseline(url: str, events: list[TouchpointEvent]) -> float:
    """A bare COPY of the same events (id, subject, type, payload) into a scratch table."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE bench_copy (event_id uuid, subject text, type text, payload jsonb)"
        )
        rows = [
            (e.event_id, message_key(e.identity).decode(), e.type, encode_event(e).decode())
            for e in events
        ]
        start = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=rows)
        return len(rows) / (time.perf_counter() - start)
    finally:
        await conn.close()


async def kafka_round_trip(kafka: KafkaSettings, rate: float, seconds: float) -> list[float]:
    topic = f"{kafka.topic_namespace}bench.roundtrip"
    await ensure_topics(kafka, (topic,))  # the broker does not auto-create topics
    publisher = Publisher(kafka)
    await publisher.start()
    listener = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await listener.start()
    sent: dict[int, float] = {}
    latencies: list[float] = []

    async def listen() -> None:
        while len(latencies) < int(rate * seconds):
            for records in (await listener.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                latencies.extend(now - sent[int(r.value or b"0")] for r in records)

    async def send(i: int) -> None:
        sent[i] = time.perf_counter()
        await publisher.publish(topic, str(i).encode(), key=str(i).encode())

    task = asyncio.create_task(listen())
    await paced(rate, seconds, send)
    await asyncio.wait_for(task, 30)
    await listener.stop()
    await publisher.stop()
    return latencies


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_service(
    env: dict[str, str], profile: Path | None, command: str = "serve"
) -> asyncio.subprocess.Process:
    env = {**env, "RAPPORT_PORT": str(free_port())}
    bin_dir = Path(sys.executable).parent
    argv: list[str | Path] = [bin_dir / "rapport-recommender", command]
    if profile:
        await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
        argv = [
            bin_dir / "pyinstrument",
            "--renderer",
            "text",
            "--show-all",
            "-o",
            profile / f"{command}.txt",
            "-m",
            "rapport_recommender",
            command,
        ]
    return await asyncio.create_subprocess_exec(*argv, env=env)


async def stop_service(service: asyncio.subprocess.Process) -> None:
    if service.returncode is None:
        service.terminate()
    await asyncio.wait_for(service.wait(), 60)


async def rows_in(db: Database, table: str) -> int:
    async with db.connection() as conn:
        from sqlalchemy import text

        return int(await conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def watch_fold(db: Database, total: int) -> tuple[float, dict[str, tuple[int, float]]]:
    """(events/s from the first folded batch to the last; for the background work — marked
    customers, pending pair batches — how many waited when the fold caught up and how many
    seconds after that until none was left)."""
    first: float | None = None
    with Progress(console=console) as progress:
        task = progress.add_task("folding the preloaded topic", total=total)
        done = 0
        while done < total:
            await asyncio.sleep(0.1)
            done = await count_processed(db)
            if done and first is None:
                first = time.perf_counter()
            progress.update(task, completed=done)
    caught_up = time.perf_counter()
    fold_rate = total / max(caught_up - (first or caught_up), 1e-3)
    left = {table: await rows_in(db, table) for table in ("stale_offers", "pending_pairs")}
    drained: dict[str, tuple[int, float]] = {}
    with Progress(console=console) as progress:
        task = progress.add_task("background work after the fold", total=sum(left.values()))
        waiting = dict(left)
        while any(waiting.values()):
            await asyncio.sleep(0.1)
            for table in [name for name, count in waiting.items() if count]:
                waiting[table] = await rows_in(db, table)
                if not waiting[table]:
                    drained[table] = (left[table], time.perf_counter() - caught_up)
            progress.update(task, completed=sum(left.values()) - sum(waiting.values()))
    for table, count in left.items():
        drained.setdefault(table, (count, 0.0))
    return fold_rate, drained


async def event_to_offer(
    args: argparse.Namespace,
    kafka: KafkaSettings,
    publisher: Publisher,
    profiles: list[uuid.UUID],
    tag: str,
    rng: random.Random,
) -> tuple[list[float], list[float]]:
    """Latencies of fresh customers' first order → their offer on the offers topic, and of a
    plain Kafka round trip at the same rate."""
    listener = AIOKafkaConsumer(
        kafka.topics.offers,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="latest",
        group_id=f"bench-listen-{tag}",
    )
    await listener.start()
    await asyncio.sleep(2)
    fresh = profiles[args.customers :]
    customer_weights = zipf_weights(args.customers, 1.1)
    skus = [f"SKU{n:05d}" for n in range(args.skus)]
    sku_weights = zipf_weights(len(skus), 1.0)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    count = int(args.rate * args.seconds)
    every = max(1, count // len(fresh))
    finished: list[bool] = []
    failed: list[int] = []

    async def send(i: int) -> None:
        if i % every == 0 and i // every < len(fresh):
            k = i // every
            event = make_event(rng, email_of(args.customers + k, tag), skus, sku_weights)
            sent[str(fresh[k])] = time.perf_counter()
        else:
            customer = rng.choices(range(args.customers), customer_weights)[0]
            event = make_event(rng, email_of(customer, tag), skus, sku_weights)
        try:
            await publisher.publish(
                kafka.topics.touchpoints, encode_event(event), key=message_key(event.identity)
            )
        except BrokerUnavailable:
            failed.append(i)  # counted and shown: a refused send is not a latency

    async def listen() -> None:
        deadline = time.perf_counter() + args.seconds + 30
        while time.perf_counter() < deadline and not (finished and len(latencies) == len(sent)):
            for records in (await listener.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for r in records:
                    pid = json.loads(r.value or b"{}").get("profile_id")
                    if pid in sent and sent[pid] > 0:
                        latencies.append(now - sent[pid])
                        sent[pid] = -1

    listening = asyncio.create_task(listen())
    await paced(args.rate, args.seconds, send)
    finished.append(True)
    await asyncio.wait_for(listening, args.seconds + 60)
    await listener.stop()
    if failed:
        console.print(f"[red]{len(failed)} of {count} sends were refused by Kafka[/red]")
    plain = await kafka_round_trip(kafka, args.rate, args.seconds)
    return latencies, plain


async def bench(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    tag = uuid.uuid4().hex[:6]
    base_url = os.environ["DATABASE_URL"]
    kafka = KafkaSettings(topic_namespace=f"bench-{tag}.", partitions=4)
    await ensure_topics(kafka)
    url = await create_database(base_url, "recbench", MIGRATIONS)
    keys = make_keys()
    settings = RecommenderSettings(
        api_keys=keys.config(),  # type: ignore[arg-type]
        kafka=kafka,
        database=database_settings(url),
        consumer_group=f"bench-{tag}",
    )
    db = Database(settings.database)
    publisher = Publisher(kafka)
    await publisher.start()
    skus = [f"SKU{n:05d}" for n in range(args.skus)]
    sku_weights = zipf_weights(len(skus), 1.0)
    customer_weights = zipf_weights(args.customers, 1.1)
    profiles = [uuid.uuid4() for _ in range(args.customers + args.fresh)]
    try:
        console.print(f"preloading {args.events} events of {args.customers} customers")
        await publisher.publish_many(
            kafka.topics.profile_changes,
            [
                (str(pid).encode(), identified(pid, email_of(i, tag)), ())
                for i, pid in enumerate(profiles)
            ],
        )
        owners = rng.choices(range(args.customers), customer_weights, k=args.events)
        events = [make_event(rng, email_of(c, tag), skus, sku_weights) for c in owners]
        for start in range(0, len(events), 5000):
            await publisher.publish_many(
                kafka.topics.touchpoints,
                [
                    (message_key(e.identity), encode_event(e), ())
                    for e in events[start : start + 5000]
                ],
            )

        # 1. the fold, by the service in its own process
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "KAFKA_TOPIC_NAMESPACE": kafka.topic_namespace,
            "KAFKA_PARTITIONS": str(kafka.partitions),
            "RAPPORT_CONSUMER_GROUP": settings.consumer_group,
            "RAPPORT_API_KEYS": keys.config(),
            "RAPPORT_LOG_LEVEL": "WARNING",
        }
        if args.split:  # the fold in one process, re-ranking and pair merging in another
            env = {**env, "RAPPORT_BACKGROUND_ENABLED": "false"}
            worker = await start_service(
                {
                    **env,
                    "RAPPORT_BACKGROUND_ENABLED": "true",
                    "RAPPORT_RERANK_POLL_SECONDS": "0.05",
                },
                args.profile,
                "work",
            )
        service = await start_service(env, args.profile)
        try:
            fold_rate, drained = await watch_fold(db, len(events))
            copy_rate = await copy_baseline(url, events)
            marked, ranked_in = drained["stale_offers"]
            batches, merged_in = drained["pending_pairs"]
            console.print(
                f"fold: {fold_rate:,.0f} events/s; bare COPY of the same rows:"
                f" {copy_rate:,.0f} rows/s. When the fold caught up, {marked:,} customers"
                f" waited to be ranked (done {ranked_in:.1f} s later) and {batches:,} batches"
                f" of pairs to be merged (done {merged_in:.1f} s later)"
            )
            latencies, plain = await event_to_offer(args, kafka, publisher, profiles, tag, rng)
        finally:
            await stop_service(service)
            if args.split:
                await stop_service(worker)
        console.print(
            f"event → changed offer at {args.rate:.0f} ev/s: p50 {percentile(latencies, 0.5) * 1e3:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1e3:.0f} ms ({len(latencies)} offers of"
            f" {args.fresh} expected); plain Kafka round trip in the same run:"
            f" p50 {percentile(plain, 0.5) * 1e3:.1f} ms, p99 {percentile(plain, 0.99) * 1e3:.1f} ms"
        )

        if args.skip_get:
            return
        # 3. GET offers: the API in one process, the load generator in another
        port = free_port()
        env = {**env, "RAPPORT_PORT": str(port)}
        bin_dir = Path(sys.executable).parent
        api = await asyncio.create_subprocess_exec(bin_dir / "rapport-recommender", "api", env=env)
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(100):
                    try:
                        if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code < 500:
                            break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.3)
            picks = rng.choices(profiles[: args.customers], customer_weights, k=2000)
            generator = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--load-generator",
                f"http://127.0.0.1:{port}",
                "--key",
                keys.offers,
                "--get-rate",
                str(args.get_rate),
                "--seconds",
                str(args.seconds),
                "--profiles",
                ",".join(map(str, picks)),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await generator.communicate()
            console.print(out.decode().strip())
        finally:
            api.terminate()
            await asyncio.wait_for(api.wait(), 10)
    finally:
        await publisher.stop()
        await db.dispose()
        if not args.keep:
            await drop_database(base_url, url)
            # the run's namespace goes with it, or a long-lived local broker gathers its topics
            await delete_topics(kafka, (f"{kafka.topic_namespace}bench.roundtrip",))


async def load_generator(args: argparse.Namespace) -> None:
    profiles = args.profiles.split(",")
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=args.load_generator, limits=limits, timeout=30) as http:
        headers = ApiKeys.bearer(args.key)

        async def one(i: int) -> None:
            nonlocal errors
            start = time.perf_counter()
            try:
                answer = await http.get(
                    f"/v1/customers/{profiles[i % len(profiles)]}/offers", headers=headers
                )
                errors += answer.status_code != 200
            except httpx.HTTPError:
                errors += 1  # counted, and its time too: a timeout is the worst latency
            latencies.append(time.perf_counter() - start)

        tasks: list[asyncio.Task[None]] = []

        async def fire(i: int) -> None:
            tasks.append(asyncio.create_task(one(i)))

        await paced(args.get_rate, args.seconds, fire)
        await asyncio.gather(*tasks)
    print(
        f"GET offers at {args.get_rate:.0f} req/s for {args.seconds:.0f} s: "
        f"p50 {percentile(latencies, 0.5) * 1e3:.1f} ms, p99 {percentile(latencies, 0.99) * 1e3:.1f} ms, "
        f"{errors} errors of {len(latencies)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--fresh", type=int, default=300, help="customers for the latency run")
    parser.add_argument("--skus", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=1_000)
    parser.add_argument("--get-rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--keep", action="store_true", help="keep the benchmark database and topics"
    )
    parser.add_argument("--profile", type=Path, help="profile the service with pyinstrument")
    parser.add_argument("--skip-get", action="store_true", help="skip the GET offers run")
    parser.add_argument(
        "--split",
        action="store_true",
        help="fold in one process, re-rank and merge pairs in another (`work`, polling)",
    )
    parser.add_argument("--load-generator", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--profiles", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(load_generator(args) if args.load_generator else bench(args))


if __name__ == "__main__":
    main()
