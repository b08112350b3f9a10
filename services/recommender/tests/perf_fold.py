"""Fold benchmark, in process (not a test: speed is measured here, never asserted). Needs the
running infra:

    set -a; . /work/main/.local/infra.env; set +a
    .venv/bin/python services/recommender/tests/perf_fold.py [--events 50000] [--profile FILE]

The same realistic mix as perf_bench.py (Zipf-active identified customers, Zipf-popular skus,
30 % views, orders of 1-8 lines), encoded as on the topic, then decoded and folded by the
service's own `fold` in batches of `max_batch`, as the consumer does — without Kafka, so that
the figure is the fold's own cost. Beside it, in the same run: a bare COPY of the same rows
(the floor of writing them at all). Prints events/s (wall) and µs of this process's CPU per
event, then how fast the pair merger adds the folded batches' co-occurrences to item_pairs
(it runs beside the fold in the service: it must keep up with it); --profile writes a
cProfile of the fold loop (sorted by cumulative time), --statements times each statement.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from perf_bench import copy_baseline, email_of, make_event, zipf_weights
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import event

from rapport_events.changes import Identified
from rapport_events.codec import encode_event
from rapport_events.db import Database
from rapport_events.envelope import now_utc
from rapport_events.identity import IdentityKind, identifier_hash
from rapport_recommender.consumer import lean_touchpoint
from rapport_recommender.handlers import fold
from rapport_recommender.rerank import merge_pending_pairs
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import MIGRATIONS
from support.fixtures import database_settings
from support.infra import create_database, drop_database

console = Console()


def time_statements(db: Database) -> dict[str, list[float]]:
    """Wall time spent in each statement (its first words), summed over the run."""
    spent: dict[str, list[float]] = {}

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        conn.info["started"] = time.perf_counter()

    @event.listens_for(db.engine.sync_engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        held = spent.setdefault(" ".join(statement.split())[:70], [0, 0.0])
        held[0] += 1
        held[1] += time.perf_counter() - conn.info["started"]

    return spent


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    tag = uuid.uuid4().hex[:6]
    base_url = os.environ["DATABASE_URL"]
    url = await create_database(base_url, "recfold", MIGRATIONS)
    console.print(f"database {url.rsplit('/', 1)[-1]}")
    settings = RecommenderSettings(database=database_settings(url), max_batch=args.batch)
    db = Database(settings.database)
    try:
        skus = [f"SKU{n:05d}" for n in range(args.skus)]
        sku_weights = zipf_weights(len(skus), 1.0)
        customer_weights = zipf_weights(args.customers, 1.1)
        owners = rng.choices(range(args.customers), customer_weights, k=args.events)
        events = [make_event(rng, email_of(c, tag), skus, sku_weights) for c in owners]
        payloads = [encode_event(e) for e in events]
        changes = [
            Identified(
                profile_id=uuid.uuid4(),
                changed_at=now_utc(),
                identifier_hashes=[identifier_hash(IdentityKind.EMAIL, email_of(i, tag))],
            )
            for i in range(args.customers)
        ]
        await fold(db, settings, [], changes)  # every customer identified: every event marks
        profiler = cProfile.Profile() if args.profile else None
        statements = time_statements(db) if args.statements else None
        batch = settings.max_batch
        wall = time.perf_counter()
        cpu = time.process_time()
        with Progress(console=console) as progress:
            task = progress.add_task("folding", total=len(payloads))
            for start in range(0, len(payloads), batch):
                if profiler:
                    profiler.enable()
                decoded = [lean_touchpoint(p) for p in payloads[start : start + batch]]
                await fold(db, settings, decoded, [])
                if profiler:
                    profiler.disable()
                progress.update(task, advance=len(decoded))
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        copy_rate = await copy_baseline(url, events)
        rate = len(payloads) / wall
        merged = time.perf_counter()
        pairs = 0
        while changed := await merge_pending_pairs(db, settings):
            pairs += changed
        merged = time.perf_counter() - merged
        console.print(
            f"fold: {rate:,.0f} events/s, {cpu / len(payloads) * 1e6:,.0f} µs CPU/event in this"
            f" process ({len(payloads):,} events, batches of {batch}); bare COPY of the same"
            f" rows: {copy_rate:,.0f} rows/s (fold/COPY {rate / copy_rate:.2f}); then the pair"
            f" merger added the batches' pairs to item_pairs ({pairs:,} upserts) in"
            f" {merged:.1f} s: {len(payloads) / merged:,.0f} events/s"
        )
        if statements is not None:
            for text, (count, seconds) in sorted(statements.items(), key=lambda kv: -kv[1][1]):
                console.print(f"{seconds:7.2f} s {count:5d}× {text}")
        if profiler and args.profile:
            profiler.dump_stats(args.profile)
            pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
    finally:
        await db.dispose()
        if not args.keep:
            await drop_database(base_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--skus", type=int, default=3_000)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the fold loop here")
    parser.add_argument("--batch", type=int, default=5000, help="events per fold (max_batch)")
    parser.add_argument("--statements", action="store_true", help="time each statement")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
