"""`make bench` (`python -m bench`): every scenario against its reference, then the report.

Options: `--scale 0.1` shrinks the fold scenario's data set (1,000,000 events over 100,000
customers at 1.0); `--duration` sets each load phase's seconds; `--only` runs some scenarios;
`--rate 250` runs the freshness and offer probes under another live load than the goals' 1,000
posts/s (figures without a verdict: where this host's knee is).
The read scenario always seeds the issue's size (1,000,000 interactions over 100,000
customers) unless BENCH_READ_SCALE says otherwise.
Writes bench/report.md and bench/report.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench import scenarios
from bench.harness import GOAL_RATE, Bench, Result
from bench.report import render_markdown
from bench.stack import Infra, Stack
from rapport_events.heap import settle_heap

HERE = Path(__file__).resolve().parent
NAMES = ("ingest", "fold", "freshness", "offers")


Step = Callable[[str, Awaitable[Result | list[Result]]], Awaitable[None]]
Say = Callable[[str], Callable[[str], None]]


async def latency_scenarios(bench: Bench, only: set[str], step: Step, say: Say) -> None:
    """Freshness, then event → offer and GET offers, on one warmed stack that has caught up."""
    stack = bench.stack
    say("stack")("starting ingest and profile")
    await stack.start("ingest")
    await stack.start("profile")
    warmed = await scenarios.warm_up(bench, say("warm-up"), ("profile",))
    if "freshness" in only:
        await step(
            "freshness",
            scenarios.with_note(
                f"{warmed}; the recommender was not running",
                scenarios.freshness(bench, say("freshness")),
            ),
        )
    if "offers" in only:
        say("stack")("starting the recommender (serve, work at a lower CPU priority, express)")
        await stack.start_recommender_as_deployed()
        caught = await scenarios.catch_up(bench, say("offers"), ("profile", "recommender"))
        await step(
            "offers",
            scenarios.with_note(
                f"{warmed}; {caught}", scenarios.offer_change(bench, say("offers"))
            ),
        )
        await step("offers GET", scenarios.offer_reads(bench, say("offers GET")))


class BrokerWarmUp:
    """Before the first scenario, whichever it is: the broker as a deployed one would be."""

    def __init__(self) -> None:
        self.note = ""

    async def warm(self, bench: Bench, say: Callable[[str], None]) -> None:
        if not self.note:
            self.note = await scenarios.warm_broker(bench, say)


async def run(args: argparse.Namespace, console: Console) -> tuple[list[Result], str]:
    """The results, and how the broker's warm-up went."""
    infra = Infra.from_env()
    results: list[Result] = []
    broker = BrokerWarmUp()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("bench", total=None)

        def say(stage: str) -> Callable[[str], None]:
            def update(message: str) -> None:
                progress.update(overall, description=f"[bold]{stage}[/] {message}")

            return update

        async def step(stage: str, work: Awaitable[Result | list[Result]]) -> None:
            began = time.monotonic()
            settle_heap()  # what the stack and earlier scenarios left, as a service does
            try:
                done = await work
            except Exception as error:  # one broken scenario must not hide the others
                done = Result(
                    stage, "—", verdict="error", notes=[f"{type(error).__name__}: {error}"]
                )
            for item in done if isinstance(done, list) else [done]:
                item.notes.append(f"scenario took {time.monotonic() - began:.0f} s")
                results.append(item)
                console.print(f"[green]✓[/] {item.scenario}: {item.verdict}")

        # Ingest alone on its own namespace: what it publishes must not reach the fold below.
        if "ingest" in args.only:
            async with Stack(infra, label="bench", partitions=args.partitions) as stack:
                say("ingest")("starting ingest")
                await stack.start("ingest")
                bench = Bench(stack, args.scale, args.duration, args.seed)
                await broker.warm(bench, say("broker"))
                await step("ingest single", scenarios.ingest_single(bench, say("ingest single")))
                await step("ingest batch", scenarios.ingest_batch(bench, say("ingest batch")))
                rss = bench.rss_samples
        else:
            rss = {}
        if "fold" in args.only:
            async with Stack(infra, label="bench", partitions=args.partitions) as stack:
                bench = Bench(stack, args.scale, args.duration, args.seed)
                bench.rss_samples.update(rss)
                await broker.warm(bench, say("broker"))
                await step("profile fold", scenarios.fold_and_read(bench, say("fold + reads")))
                rss = bench.rss_samples
        # The latency scenarios on a stack of their own, warmed and caught up: the fold's
        # million-event preload would otherwise still be queued before the recommender's
        # consumer, and every probe would wait behind it. Freshness runs the services on its
        # path only (ingest, profile): the recommender is not between a post and the timeline,
        # and on 2 shared cores its fold would be measured as the profile's latency.
        if {"freshness", "offers"} & set(args.only):
            async with Stack(infra, label="bench", partitions=args.partitions) as stack:
                bench = Bench(stack, args.scale, args.duration, args.seed, args.rate)
                bench.rss_samples.update(rss)
                await broker.warm(bench, say("broker"))
                await latency_scenarios(bench, set(args.only), step, say)
                rss = bench.rss_samples
        memory = Bench.__new__(Bench)
        memory.rss_samples = rss
        results.append(scenarios.memory(memory))
    return results, broker.note


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fold data set, 1.0 = 1M events")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load phase")
    parser.add_argument("--seed", type=int, default=20101201)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument(
        "--rate",
        type=int,
        default=GOAL_RATE,
        help="live posts/s under the freshness and offer probes; their goals are stated at "
        f"{GOAL_RATE:,}, so another rate gives figures without a verdict (the rate this host "
        "sustains)",
    )
    parser.add_argument("--only", nargs="*", choices=NAMES, default=list(NAMES))
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    if args.rate <= 0:
        parser.error(f"--rate {args.rate}: live posts per second must be at least 1")
    console = Console()
    began = time.monotonic()
    results, warm_up = asyncio.run(run(args, console))
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} — {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load average at start "
        f"{psutil.getloadavg()[0]:.1f}",
        "options": {
            "scale": args.scale,
            "duration": args.duration,
            "seed": args.seed,
            "partitions": args.partitions,
            "rate": args.rate,
            "only": args.only,
        },
        "took_s": round(time.monotonic() - began),
        "warm_up": warm_up,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(
        json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    (args.out / "report.md").write_text(render_markdown(meta, results))
    console.print(f"wrote {args.out / 'report.md'} and report.json")


if __name__ == "__main__":
    main()
