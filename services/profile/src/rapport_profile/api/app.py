"""The profile HTTP app: wiring only. The fold runs beside it unless disabled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rapport_events.db import Database
from rapport_events.kafka import Publisher
from rapport_events.runtime import connected, consuming
from rapport_events.service import create_app
from rapport_profile.api import customers
from rapport_profile.console import mount_console
from rapport_profile.consumer import build_consumer
from rapport_profile.settings import ProfileSettings


def build_app(settings: ProfileSettings | None = None) -> FastAPI:
    settings = settings or ProfileSettings()
    db = Database(settings.database)
    publisher = Publisher(settings.kafka)
    consumer = build_consumer(settings, db, publisher) if settings.consumer_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with connected(publisher), consuming(consumer):
            yield
        await db.dispose()

    app = create_app(
        title="Rapport profile",
        description=(
            "The customer profile and the running dialogue history across web, call center, "
            "email and store: what the agent sees while the customer is on the line."
        ),
        settings=settings,
        checks={"database": db.check, "kafka": publisher.check},
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.consumer = consumer
    app.include_router(customers.router)
    mount_console(app)
    return app
