"""Fold throughput: preload a topic with a realistic mix, fold it into a fresh database.

    set -a; . .local/infra.env; set +a
    .venv/bin/python services/profile/bench/bench_fold.py --events 100000 --customers 20000

Prints events/s of the fold (Kafka to committed PostgreSQL rows, changes published) and of a
bare COPY of the same interaction rows, in the same run. Nothing is asserted: it is a measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from rich.progress import Progress

from rapport_events.codec import encode_event
from rapport_events.db import Database, upgrade_schema
from rapport_events.envelope import parse_event
from rapport_events.identity import message_key
from rapport_events.kafka import Publisher, ensure_topics
from rapport_events.settings import DatabaseSettings, KafkaSettings
from rapport_profile.consumer import build_consumer
from rapport_profile.settings import ProfileSettings
from rapport_profile.store import MIGRATIONS


def mix(customers: int, count: int, seed: int = 7) -> list[Any]:
    """Web browsing dominates; orders, store, email, calls and identity links sprinkled in."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    now = datetime.now(UTC)
    events = []
    for _ in range(count):
        c = rng.randrange(customers)
        anon, email, loyalty = f"anon-{c}", f"c{c}@example.com", f"LOY-{c}"
        at = now - timedelta(minutes=rng.randrange(500_000))
        roll = rng.random()
        item = {"sku": f"SKU-{rng.randrange(500)}", "quantity": rng.randint(1, 3), "price": 9.5}
        if roll < 0.45:
            kind, channel, who, props = "page_viewed", "web", {"anonymous_id": anon}, {"url": "/p"}
        elif roll < 0.6:
            kind, channel, who, props = (
                "product_viewed",
                "web",
                {"anonymous_id": anon},
                {"sku": item["sku"]},
            )
        elif roll < 0.68:
            kind, channel, who = "order_completed", "web", {"anonymous_id": anon, "email": email}
            props = {
                "order_id": uuid.uuid4().hex,
                "items": [item],
                "total": 28.5,
                "currency": "GBP",
            }
        elif roll < 0.75:
            kind, channel, who = "store_purchase", "store", {"loyalty_id": loyalty}
            props = {
                "store_id": "leeds-01",
                "receipt_id": uuid.uuid4().hex,
                "items": [item],
                "total": 19,
                "currency": "GBP",
            }
        elif roll < 0.9:
            kind, channel, who = "email_opened", "email", {"email": email}
            props = {"message_id": "m", "subject": "Spring sale"}
        elif roll < 0.95:
            kind, channel, who = (
                "call_started",
                "call_center",
                {"loyalty_id": loyalty, "email": email},
            )
            props = {"call_id": uuid.uuid4().hex, "reason": "order status"}
        else:
            kind, channel, who = "identify", "web", {"email": email, "loyalty_id": loyalty}
            props = {"traits": {"first_name": "Ada", "country": "GB"}}
        events.append(
            parse_event(
                {
                    "type": kind,
                    "channel": channel,
                    "occurred_at": at.isoformat(),
                    "timestamp": at.isoformat(),
                    "identity": who,
                    "properties": props,
                }
            )
        )
    return events


async def fold_here(
    settings: ProfileSettings, publisher: Publisher, group: str, count: int
) -> tuple[float, float]:
    """One consumer in this process; returns wall and CPU seconds until all is folded."""
    db = Database(settings.database)
    loop = build_consumer(settings, db, publisher, group_id=group)
    started, cpu_started = time.perf_counter(), time.process_time()
    running = asyncio.create_task(loop.run())
    with Progress() as progress:
        task = progress.add_task("folding", total=count)
        while loop.handled < count:
            progress.update(task, completed=loop.handled)
            await asyncio.sleep(0.1)
        progress.update(task, completed=loop.handled)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    loop.stop()
    await running
    await db.dispose()
    return elapsed, cpu


def _settings(url: str, namespace: str, batch: int) -> ProfileSettings:
    return ProfileSettings(
        kafka=KafkaSettings(topic_namespace=namespace, partitions=4),
        database=DatabaseSettings(database_url=SecretStr(url)),
        max_batch=batch,
    )


def _worker(url: str, namespace: str, batch: int, group: str, stop: Any) -> None:
    """A consumer of the same group in its own process (partitions are shared out)."""
    settings = _settings(url, namespace, batch)

    async def run() -> None:
        publisher = Publisher(settings.kafka)
        await publisher.start()
        db = Database(settings.database)
        loop = build_consumer(settings, db, publisher, group_id=group)
        running = asyncio.create_task(loop.run())
        await asyncio.to_thread(stop.wait)
        loop.stop()
        await running
        await publisher.stop()
        await db.dispose()

    asyncio.run(run())


async def _committed(admin: AIOKafkaAdminClient, group: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(meta.offset for meta in offsets.values() if meta.offset > 0)


async def fold_in_processes(
    settings: ProfileSettings, group: str, count: int, processes: int, dsn: str, name: str
) -> tuple[float, float]:
    """`processes` consumers of one group, each in its own process; progress is read from
    the database (events claimed). Returns wall and the workers' CPU seconds."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    url = settings.database.database_url.get_secret_value()
    args = (url, settings.kafka.topic_namespace, settings.max_batch, group, stop)
    workers = [context.Process(target=_worker, args=args) for _ in range(processes)]
    # Progress from the group's committed offsets: counting the claimed events would scan
    # the table the fold is filling, several times a second, on the same two cores.
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    with Progress() as progress:
        task = progress.add_task(f"folding in {processes} processes", total=count)
        while (done := await _committed(admin, group)) < count:
            progress.update(task, completed=done)
            await asyncio.sleep(0.2)
        progress.update(task, completed=done)
    elapsed = time.perf_counter() - started
    stop.set()
    for worker in workers:
        await asyncio.to_thread(worker.join)
    await admin.close()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, usage.ru_utime + usage.ru_stime


async def main(count: int, customers: int, batch: int, processes: int) -> None:
    base = os.environ["DATABASE_URL"]
    name = f"bench_profile_{uuid.uuid4().hex[:8]}"
    dsn = base.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(upgrade_schema, MIGRATIONS, url)
    settings = _settings(url, f"bench-{uuid.uuid4().hex[:6]}.", batch)
    kafka = settings.kafka
    await ensure_topics(kafka)
    print(f"generating {count} events for {customers} customers")
    events = mix(customers, count)
    publisher = Publisher(kafka)
    await publisher.start()
    with Progress() as progress:
        task = progress.add_task("preloading the topic", total=count)
        for start in range(0, count, 5000):
            chunk = events[start : start + 5000]
            await publisher.publish_many(
                kafka.topics.touchpoints,
                [(message_key(e.identity), encode_event(e), ()) for e in chunk],
            )
            progress.update(task, advance=len(chunk))
    group = f"bench-{uuid.uuid4().hex[:6]}"
    if processes > 1:
        elapsed, cpu = await fold_in_processes(settings, group, count, processes, dsn, name)
    else:
        elapsed, cpu = await fold_here(settings, publisher, group, count)
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/" + name)
    interactions = await conn.fetchval("SELECT count(*) FROM interactions")
    profiles = await conn.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NULL")
    rows = await conn.fetch("SELECT * FROM interactions")
    await conn.execute("CREATE TEMP TABLE copy_bench (LIKE interactions)")
    copy_started = time.perf_counter()
    await conn.copy_records_to_table("copy_bench", records=[tuple(r) for r in rows])
    copy_elapsed = time.perf_counter() - copy_started
    await conn.close()
    print(
        f"fold: {count} events in {elapsed:.1f} s = {count / elapsed:,.0f} events/s "
        f"(batch {batch}, {processes} process(es); {interactions} interactions, "
        f"{profiles} live profiles)"
    )
    print(
        f"fold process(es) CPU: {cpu:.1f} s = {count / cpu:,.0f} events per CPU-second "
        f"(the machine is shared: wall-clock figures move with the other load)"
    )
    print(f"bare COPY of the same {len(rows)} rows: {len(rows) / copy_elapsed:,.0f} rows/s")
    await publisher.stop()
    with contextlib.suppress(asyncpg.PostgresError):  # a stray autovacuum may hold it
        await admin.execute(f'DROP DATABASE "{name}"')
    await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=1, help="consumers in parallel")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.customers, args.batch, args.processes))
