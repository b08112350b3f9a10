"""GET offers benchmark (not a test: pytest does not collect perf_*.py; speed is measured here,
never asserted). Needs the running PostgreSQL:

    set -a; . /work/main/.local/infra.env; set +a
    .venv/bin/python services/recommender/tests/perf_offers.py [--rate 500] [--seconds 10]

1. seed: the UCI Online Retail invoices (4,300 real customers, 3,600 skus, 400k lines) folded
   through the service's own `fold`, every customer linked to a profile id (skipped with
   `--database-url` of a database seeded before with `--keep`); then, as the service does
   after a fold, the co-purchases merged and every customer ranked and stored by the
   re-ranker, so that GET serves stored rankings (the live path is step 2);
2. in process: `offers_for` one customer after another (reads + scoring), ms per customer;
3. over HTTP: `rapport-recommender api` in its own process and, as the same-run reference, a
   trivial FastAPI app (`bench.trivial`, GET /healthz) in another, both driven by `bench.loadgen`
   in a third: open loop at --rate (p50/p99) and closed loop (the most requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress, track
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from rapport_events.db import Database
from rapport_recommender.domain.facts import subject_of
from rapport_recommender.evaluation.data import invoices, to_event
from rapport_recommender.handlers import fold, offers_for
from rapport_recommender.rerank import merge_pending_pairs, rerank_stale
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import MIGRATIONS, stale
from rapport_recommender.store.tables import aliases
from support.fixtures import database_settings
from support.infra import create_database, drop_database
from support.keys import ApiKeys, make_keys

try:
    from rapport_recommender.store.reads import MarketReads
except ImportError:  # the code before it, put first on PYTHONPATH to measure it the same way
    MarketReads = None  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parents[3]
DATA = Path("/work/shared/data/online_retail.csv.gz")
console = Console()


async def seed(db: Database, settings: RecommenderSettings, data: Path, batch: int) -> list[str]:
    """Fold the invoices in stream order; link each customer to a profile; the profile ids."""
    rows = sorted(invoices(data), key=lambda row: row[2])
    events = [to_event(*row) for row in rows]
    for start in track(range(0, len(events), batch), description="folding the invoices"):
        await fold(db, settings, events[start : start + batch], [])
    subjects = sorted({subject_of(event) for event in events})
    profiles = {subject: uuid.uuid5(uuid.NAMESPACE_URL, subject) for subject in subjects}
    async with db.transaction() as conn:
        await conn.execute(
            insert(aliases),
            [{"identifier_hash": s, "profile_id": p} for s, p in profiles.items()],
        )
    return [str(p) for p in profiles.values()]


async def rank_everyone(db: Database, settings: RecommenderSettings, profiles: list[str]) -> None:
    """As the service does after a fold: the co-purchases merged into item_pairs, then every
    customer ranked by the re-ranker and the ranking stored (what GET offers serves)."""
    with console.status("merging the co-purchase counts"):
        while await merge_pending_pairs(db, settings):
            pass
    async with db.transaction() as conn:
        await stale.ask(conn, [uuid.UUID(pid) for pid in profiles])
    ranked = 0
    with Progress(console=console) as progress:
        task = progress.add_task("ranking every customer (re-ranker)", total=len(profiles))
        while claimed := await rerank_stale(db, settings):
            ranked += len(claimed)
            progress.update(task, completed=ranked)


async def profile_ids(db: Database) -> list[str]:
    async with db.connection() as conn:
        rows = await conn.execute(select(aliases.c.profile_id).distinct())
        return sorted(str(pid) for pid in rows.scalars())


async def in_process(
    db: Database, settings: RecommenderSettings, picks: list[str], market: Any
) -> tuple[float, float]:
    """(median, p90) ms of `offers_for` per customer, one after another."""
    times = []
    async with db.connection() as conn:
        for pid in picks:
            start = time.perf_counter()
            if market is None:
                await offers_for(conn, settings, uuid.UUID(pid))
            else:
                await offers_for(conn, settings, uuid.UUID(pid), market=market)
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


async def start(command: list[str], env: dict[str, str], url: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(*command, env=env)
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(url)).status_code < 500:
                    return process
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"{command[0]} did not start")


async def load(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    generator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", handle.name, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, _ = await generator.communicate()
    os.unlink(handle.name)
    result: dict[str, Any] = json.loads(out)
    return result


def line(name: str, result: dict[str, Any]) -> str:
    return (
        f"{name}: {result['ops_per_s']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, {result['errors']} errors, statuses {result['statuses']}"
    )


async def over_http(
    args: argparse.Namespace, url: str, keys: ApiKeys, picks: list[str], report: dict[str, Any]
) -> None:
    rng = random.Random(11)
    port, reference_port = 18900 + rng.randint(0, 40), 18950 + rng.randint(0, 40)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "RAPPORT_PORT": str(port),
        "RAPPORT_API_KEYS": keys.config(),
        "RAPPORT_LOG_LEVEL": "WARNING",
    }
    bin_dir = Path(sys.executable).parent
    api = await start(
        [str(bin_dir / "rapport-recommender"), "api"], env, f"http://127.0.0.1:{port}/healthz"
    )
    reference = await start(
        [
            str(bin_dir / "uvicorn"),
            "bench.trivial:app",
            "--port",
            str(reference_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        {**os.environ, "PYTHONPATH": str(ROOT)},
        f"http://127.0.0.1:{reference_port}/healthz",
    )
    try:
        offers = [
            [{"method": "GET", "url": f"http://127.0.0.1:{port}/v1/customers/{p}/offers"}]
            for p in picks
        ]
        trivial = [{"method": "GET", "url": f"http://127.0.0.1:{reference_port}/healthz"}]
        common = {"headers": ApiKeys.bearer(keys.offers), "duration": args.seconds}
        # warm-up (connection pool, caches), not counted
        await load(
            {**common, "operations": offers, "mode": "closed", "concurrency": 8, "duration": 2}
        )
        # The reference first, and the open loop of GET offers last: a backlog of
        # requests still being served must not eat another run's CPU.
        runs: list[tuple[str, dict[str, Any]]] = [
            (
                "trivial GET /healthz, closed loop (max)",
                {"operations": [trivial], "mode": "closed", "concurrency": 32},
            ),
            (
                "trivial GET /healthz, open loop",
                {"operations": [trivial], "mode": "open", "rate": args.rate},
            ),
            (
                "GET offers, closed loop (max)",
                {"operations": offers, "mode": "closed", "concurrency": 32},
            ),
        ]
        for name, spec in runs:
            result = await load({**common, **spec})
            report[name] = result
            console.print(line(name, result))
        most = report["GET offers, closed loop (max)"]["ops_per_s"]
        rates = [args.rate] if most >= args.rate else [round(0.8 * most, 1), args.rate]
        for rate in rates:
            name = f"GET offers, open loop at {rate:g} req/s"
            result = await load({**common, "operations": offers, "mode": "open", "rate": rate})
            report[name] = result
            console.print(line(name, result))
    finally:
        for process in (api, reference):
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:  # still serving a backlog
                process.kill()
                await process.wait()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    base_url = os.environ["DATABASE_URL"]
    url = args.database_url or await create_database(base_url, "offersbench", MIGRATIONS)
    keys = make_keys()
    settings = RecommenderSettings(
        api_keys=keys.config(),  # type: ignore[arg-type]
        database=database_settings(url),
        consumer_enabled=False,
    )
    db = Database(settings.database)
    report: dict[str, Any] = {}
    try:
        if args.database_url:
            profiles = await profile_ids(db)
        else:
            profiles = await seed(db, settings, args.data, args.batch)
        console.print(f"{len(profiles)} customers in {url.rsplit('/', 1)[-1]}")
        await rank_everyone(db, settings, profiles)
        rng = random.Random(7)
        picks = rng.choices(profiles, k=2000)
        markets = [("market read per call", None)]
        if MarketReads is not None:
            markets.append(("market kept 5 s, as the API", MarketReads(5)))
        for name, market in markets:
            median, p90 = await in_process(db, settings, picks[: args.sample], market)
            report[f"offers_for_ms, {name}"] = {"median": median, "p90": p90}
            console.print(
                f"offers_for in process, {name}: median {median:.1f} ms, p90 {p90:.1f} ms"
                " a customer"
            )

        if not args.no_http:
            await over_http(args, url, keys, picks, report)
    finally:
        await db.dispose()
        if not args.keep and not args.database_url:
            await drop_database(base_url, url)
        elif not args.database_url:
            console.print(f"kept {url}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--database-url", help="a database seeded before (with --keep)")
    parser.add_argument("--batch", type=int, default=1000, help="events folded per transaction")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sample", type=int, default=50, help="customers timed in process")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--no-http", action="store_true", help="the in-process timing only")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
