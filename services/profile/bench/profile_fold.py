"""Where the fold's time goes: decode + fold the bench mix in batches, under cProfile.

    set -a; . .local/infra.env; set +a
    .venv/bin/python services/profile/bench/profile_fold.py --events 30000 --customers 6000

No Kafka: events are encoded then decoded (as the consumer does) and handed to
`fold_events` batch by batch, so the figure is the fold's own ceiling. Prints events/s with
and without the profiler and the top functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import pstats
import time
import uuid

import asyncpg
from bench_fold import mix
from rich.progress import track

from rapport_events.codec import decode_event, encode_event
from rapport_events.db import Database, upgrade_schema
from rapport_events.settings import DatabaseSettings
from rapport_profile.consumer import FOLD_GC_THRESHOLDS
from rapport_profile.handlers import fold_events
from rapport_profile.store import MIGRATIONS
from rapport_profile.store.state_cache import ProfileCache


async def fold_all(
    db: Database, encoded: list[bytes], batch: int, cache: ProfileCache | None = None
) -> tuple[float, float]:
    """Wall and process CPU seconds to decode and fold `encoded` batch by batch."""
    started, cpu = time.perf_counter(), time.process_time()
    for start in track(range(0, len(encoded), batch), description="folding"):
        events = [decode_event(value) for value in encoded[start : start + batch]]
        await fold_events(db, events, cache=cache)
    return time.perf_counter() - started, time.process_time() - cpu


async def fresh_database(base: str) -> tuple[str, str]:
    name = f"bench_profile_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = base.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(upgrade_schema, MIGRATIONS, url)
    return name, url


async def drop_database(base: str, name: str) -> None:
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    with contextlib.suppress(asyncpg.PostgresError):  # a stray autovacuum may hold it
        await admin.execute(f'DROP DATABASE "{name}"')
    await admin.close()


async def main(count: int, customers: int, batch: int, top: int, cache_size: int) -> None:
    base = os.environ["DATABASE_URL"]
    encoded = [encode_event(event) for event in mix(customers, count)]
    half = len(encoded) // 2
    name, url = await fresh_database(base)
    db = Database(DatabaseSettings(database_url=url))
    cache = ProfileCache(cache_size) if cache_size else None  # as the consumer has one
    gc.set_threshold(*FOLD_GC_THRESHOLDS)  # as the consumer sets it
    try:
        plain, plain_cpu = await fold_all(db, encoded[:half], batch, cache)
        # CPU time, not wall time: on a shared machine a wall-clock profile charges the time
        # this process waited for a core to whatever function happened to be running.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        profiled, _ = await fold_all(db, encoded[half:], batch, cache)
        profiler.disable()
    finally:
        await db.dispose()
        await drop_database(base, name)
    print(
        f"first half, no profiler: {half / plain:,.0f} events/s (batch {batch}); this process "
        f"busy {plain_cpu / plain:.0%} of the time, {half / plain_cpu:,.0f} events per CPU-second"
    )
    print(f"second half, profiled: {(len(encoded) - half) / profiled:,.0f} events/s")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--customers", type=int, default=6_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--cache-size", type=int, default=10_000, help="0: no profile cache")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.customers, args.batch, args.top, args.cache_size))
