"""Fold throughput: preload a topic with a realistic mix, fold it into a fresh database.

    set -a; . .local/infra.env; set +a
    .venv/bin/python services/profile/bench/bench_fold.py --events 100000 --customers 20000

Prints events/s of the fold (Kafka to committed PostgreSQL rows, changes published) and of a
bare COPY of the same interaction rows, in the same run. Nothing is asserted: it is a measure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
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


async def main(count: int, customers: int, batch: int) -> None:
    base = os.environ["DATABASE_URL"]
    name = f"bench_profile_{uuid.uuid4().hex[:8]}"
    dsn = base.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(upgrade_schema, MIGRATIONS, url)
    kafka = KafkaSettings(topic_namespace=f"bench-{uuid.uuid4().hex[:6]}.", partitions=4)
    await ensure_topics(kafka)
    settings = ProfileSettings(
        kafka=kafka,
        database=DatabaseSettings(database_url=url),
        max_batch=batch,  # type: ignore[arg-type]
    )
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
    db = Database(settings.database)
    loop = build_consumer(settings, db, publisher, group_id=f"bench-{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    running = asyncio.create_task(loop.run())
    with Progress() as progress:
        task = progress.add_task("folding", total=count)
        while loop.handled < count:
            progress.update(task, completed=loop.handled)
            await asyncio.sleep(0.1)
        progress.update(task, completed=loop.handled)
    elapsed = time.perf_counter() - started
    loop.stop()
    await running
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
        f"(batch {batch}; {interactions} interactions, {profiles} live profiles)"
    )
    print(f"bare COPY of the same {len(rows)} rows: {len(rows) / copy_elapsed:,.0f} rows/s")
    await publisher.stop()
    await db.dispose()
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.customers, args.batch))
