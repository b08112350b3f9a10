"""`python -m rapport_profile` (or `rapport-profile`): serve, api, migrate, replay, refresh.

- `serve`: the HTTP API, the stream fold and the scheduled re-ranking in one process;
- `api`: the HTTP API only (scale reads apart from the fold);
- `migrate`: upgrade the schema;
- `replay --from-beginning`: rebuild the store from the topic (stop the `serve` processes
  first): the fold state is truncated, tombstones and erasure records are kept, and a fresh
  consumer group reads the topic from offset 0 with a progress bar;
- `refresh`: re-rank tiers, RFM scores and lifecycle stages now (also runs on a schedule).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rapport_events.db import Database, upgrade_schema
from rapport_events.kafka import Publisher
from rapport_events.service import serve
from rapport_profile.api.app import build_app
from rapport_profile.consumer import build_consumer, topic_size
from rapport_profile.handlers import refresh_scores
from rapport_profile.settings import ProfileSettings
from rapport_profile.store import MIGRATIONS, fold


async def replay(settings: ProfileSettings) -> int:
    db = Database(settings.database)
    publisher = Publisher(settings.kafka)
    await publisher.connect()
    try:
        async with db.transaction() as conn:
            await fold.truncate_fold_state(await fold.driver(conn))
        total = await topic_size(settings.kafka, settings.kafka.topics.touchpoints)
        group = f"{settings.consumer_group}-replay-{uuid.uuid4().hex[:12]}"
        loop = build_consumer(settings, db, publisher, group_id=group)
        task = asyncio.create_task(loop.run())
        columns = (
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns) as progress:
            bar = progress.add_task("replay", total=total)
            while not task.done():
                progress.update(bar, completed=loop.handled)
                if loop.running and loop.handled >= total and await loop.lag() == 0:
                    break
                await asyncio.sleep(0.2)
            progress.update(bar, completed=loop.handled)
        loop.stop()
        await task
        print(f"replayed {loop.handled} events from {settings.kafka.topics.touchpoints}")
        return loop.handled
    finally:
        await publisher.stop()
        await db.dispose()


async def refresh(settings: ProfileSettings) -> None:
    db = Database(settings.database)
    publisher = Publisher(settings.kafka)
    await publisher.connect()
    try:
        result = await refresh_scores(db, publisher, settings.kafka.topics.profile_changes)
        print(
            f"ranked {result.customers} customers, updated {result.updated}, "
            f"published {result.changes} card changes"
        )
    finally:
        await publisher.stop()
        await db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rapport-profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        choices=["serve", "api", "migrate", "replay", "refresh"],
        nargs="?",
        default="serve",
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="replay: required, to say that the store is rebuilt from offset 0",
    )
    args = parser.parse_args(argv)
    settings = ProfileSettings()
    if args.command == "migrate":
        upgrade_schema(MIGRATIONS, settings.database.database_url.get_secret_value())
    elif args.command == "replay":
        if not args.from_beginning:
            parser.error("replay rebuilds the store from offset 0: pass --from-beginning")
        asyncio.run(replay(settings))
    elif args.command == "refresh":
        asyncio.run(refresh(settings))
    else:
        if args.command == "api":
            settings = settings.model_copy(update={"consumer_enabled": False})
        serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
