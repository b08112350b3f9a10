"""The recommender HTTP app: wiring only. The fold runs beside it unless disabled."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from rapport_events.db import Database
from rapport_events.kafka import ConsumerLoop, GroupLag, Publisher
from rapport_events.runtime import connected, consuming, reading, watching
from rapport_events.service import create_app
from rapport_recommender.api import offers
from rapport_recommender.api.hot import install_hot_offers
from rapport_recommender.background import Worker, working
from rapport_recommender.consumer import build_consumer, build_express_consumer, fold_topics
from rapport_recommender.handlers import Folded
from rapport_recommender.rerank import (
    Outbox,
    merge_pending_pairs,
    refresh_reach,
    rerank_and_publish,
    rerank_at_once_and_publish,
)
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import ranked
from rapport_recommender.store.reads import MarketReads


def build_app(settings: RecommenderSettings | None = None) -> FastAPI:
    settings = settings or RecommenderSettings()
    db = Database(settings.database, reads_init=ranked.warm)
    publisher = Publisher(settings.kafka)
    # The background workers run beside the fold, woken by each batch it commits; or in
    # processes of their own (`work`), where they look for work every rerank_poll_seconds.
    outbox = Outbox(db, publisher, settings.kafka.topics.offers)
    market = MarketReads(settings.market_cache_seconds)  # the API's, and the at-once lane's

    def rerank_share() -> float:
        if consumer is not None:  # the fold is this process's own
            behind = consumer.behind
        else:
            behind = fold_lag.behind if fold_lag is not None else 0
        return settings.catch_up_share if behind > settings.catch_up_lag else 1.0

    rerank = Worker(
        "rerank",
        lambda: rerank_and_publish(db, settings, outbox),
        settings.rerank_poll_seconds,
        rerank_share,
    )

    async def merge() -> int:
        merged = await merge_pending_pairs(db, settings)
        if merged:
            rerank.wake()  # marks that waited for these pairs may be claimed now
        return merged

    # Beside the re-ranker, not before each of its chunks: it claims the marks whose pairs
    # are merged, and ranks while PostgreSQL merges the next batches.
    merger = Worker("merge", merge, settings.rerank_poll_seconds, rerank_share)
    at_once = Worker(
        "rerank_at_once",
        lambda: rerank_at_once_and_publish(db, settings, outbox, market),
        settings.rerank_poll_seconds,
    )
    # Not woken by folds: the reach order is redone on its own schedule.
    reach = Worker("reach", lambda: refresh_reach(db, settings), settings.reach_refresh_seconds)
    # The express lane ranks in its fold's transaction; this sends what it queued.
    sender = Worker("send", outbox.send_expected, settings.rerank_poll_seconds)

    def express_ranked(customers: Sequence[uuid.UUID]) -> None:
        outbox.expect(customers)
        sender.wake()

    lanes = {
        rerank: settings.ordinary_lane_enabled,
        merger: settings.ordinary_lane_enabled,
        reach: settings.ordinary_lane_enabled,
        at_once: settings.at_once_lane_enabled,
        sender: settings.express,
    }
    workers = [w for w, on in lanes.items() if on] if settings.background_enabled else []

    def folded(batch: Folded) -> None:
        merger.wake()
        rerank.wake()
        if batch.at_once:
            at_once.wake()

    consumer: ConsumerLoop[Any] | None = None
    if settings.consumer_enabled and settings.express:
        consumer = build_express_consumer(settings, db, publisher, market, express_ranked)
    elif settings.consumer_enabled:
        consumer = build_consumer(settings, db, publisher, folded)
    # A process that re-ranks beside no fold of its own (`work`) gives way to the serving
    # processes' fold by the lag of their consumer group.
    fold_lag = (
        GroupLag(settings.kafka, settings.consumer_group, fold_topics(settings))
        if consumer is None and rerank in workers
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Stopped in reverse: the consumer's last batch first, then the work it woke.
        async with (
            reading(db),
            connected(publisher),
            watching(fold_lag),
            working(workers),
            consuming(consumer),
        ):
            yield
        await db.dispose()

    app = create_app(
        title="Rapport recommender",
        description=(
            "Next-best offers for each customer, under their consent and contact limits, "
            "learning from every offer accepted or declined."
        ),
        settings=settings,
        checks={"database": db.check, "kafka": publisher.check},
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.settings = settings
    app.state.market = market
    app.state.consumer = consumer
    app.state.workers = workers
    app.include_router(offers.router)
    install_hot_offers(app)
    return app
