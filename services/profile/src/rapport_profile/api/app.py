"""The profile HTTP app: wiring only. The fold and the scheduled re-ranking run beside it
unless disabled; the outbox drain always does (the API publishes erasures too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI

from rapport_events.db import Database
from rapport_events.kafka import Publisher
from rapport_events.observability import get_logger
from rapport_events.runtime import connected, consuming, reading
from rapport_events.service import create_app
from rapport_profile.api import customers
from rapport_profile.api.errors import install_database_errors
from rapport_profile.api.hot import install_hot_reads
from rapport_profile.console import mount_console
from rapport_profile.consumer import build_consumer
from rapport_profile.handlers import drain_outbox, refresh_scores, revalidate_cache
from rapport_profile.settings import ProfileSettings
from rapport_profile.store import reads
from rapport_profile.store.state_cache import ProfileCache

log = get_logger(__name__)


async def refresh_periodically(
    db: Database, publisher: Publisher, settings: ProfileSettings
) -> None:
    """Re-rank the base on a schedule: tiers and scores are relative to every customer."""
    while True:
        await asyncio.sleep(settings.refresh_interval_s)
        try:
            result = await refresh_scores(db, publisher, settings.kafka.topics.profile_changes)
            log.info("scores_refreshed", customers=result.customers, updated=result.updated)
        except Exception as error:  # the next round tries again
            log.warning("scores_refresh_failed", error=type(error).__name__)


async def drain_periodically(db: Database, publisher: Publisher, settings: ProfileSettings) -> None:
    """Publish the changes a crash or a broker outage left in the outbox: everything at
    start-up, then what is older than one interval (fresher rows are being published by the
    use case that wrote them)."""
    topic = settings.kafka.topics.profile_changes
    older_than_s = 0.0
    while True:
        try:
            if publisher.started:
                await drain_outbox(db, publisher, topic, older_than_s=older_than_s)
                older_than_s = settings.outbox_interval_s
        except Exception as error:  # the next round tries again
            log.warning("profile_outbox_drain_failed", error=type(error).__name__)
        await asyncio.sleep(settings.outbox_interval_s if older_than_s else 0.5)


async def revalidate_periodically(
    db: Database, cache: ProfileCache, settings: ProfileSettings
) -> None:
    """Drop cached profiles that another instance erased or merged away (personal data must
    not stay in this process's memory after an erasure; see store/state_cache.py)."""
    while True:
        await asyncio.sleep(settings.state_cache_check_s)
        try:
            if dropped := await revalidate_cache(db, cache):
                log.info("profile_cache_revalidated", dropped=dropped)
        except Exception as error:  # the next round tries again
            log.warning("profile_cache_revalidation_failed", error=type(error).__name__)


@asynccontextmanager
async def scheduled(
    db: Database, publisher: Publisher, settings: ProfileSettings, cache: ProfileCache
) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(drain_periodically(db, publisher, settings))]
    if settings.consumer_enabled:
        tasks.append(asyncio.create_task(revalidate_periodically(db, cache, settings)))
    if settings.consumer_enabled and settings.refresh_interval_s > 0:
        tasks.append(asyncio.create_task(refresh_periodically(db, publisher, settings)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def build_app(settings: ProfileSettings | None = None) -> FastAPI:
    settings = settings or ProfileSettings()
    db = Database(settings.database, reads_init=reads.warm)
    publisher = Publisher(settings.kafka)
    cache = ProfileCache(settings.state_cache_size)
    consumer = (
        build_consumer(settings, db, publisher, cache=cache) if settings.consumer_enabled else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            reading(db),
            connected(publisher),
            consuming(consumer),
            scheduled(db, publisher, settings, cache),
        ):
            yield
        await db.dispose()

    async def consumer_state() -> dict[str, Any]:
        if consumer is None:
            return {"consumer": "disabled"}
        return {"consumer": {"running": consumer.running, "lag": await consumer.lag()}}

    app = create_app(
        title="Rapport profile",
        description=(
            "The customer profile and the running dialogue history across web, call center, "
            "email and store: what the agent sees while the customer is on the line."
        ),
        settings=settings,
        checks={"database": db.check, "kafka": publisher.check},
        lifespan=lifespan,
        readiness_details=consumer_state,
    )
    app.state.db = db
    app.state.publisher = publisher
    app.state.consumer = consumer
    app.state.profile_cache = cache
    install_database_errors(app)
    app.include_router(customers.router)
    install_hot_reads(app)
    mount_console(app)
    return app
