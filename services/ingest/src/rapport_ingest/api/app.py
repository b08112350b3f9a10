"""The ingest HTTP app: wiring only; the intake rules live in `domain` and `handlers`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from rapport_events.kafka import Publisher
from rapport_events.runtime import connected
from rapport_events.service import create_app
from rapport_ingest.api import events, webhooks
from rapport_ingest.api.hot import install_hot_events
from rapport_ingest.api.openapi import install_openapi
from rapport_ingest.handlers import Intake
from rapport_ingest.settings import IngestSettings


def build_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    publisher = Publisher(settings.kafka)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with connected(publisher):
            yield

    app = create_app(
        title="Rapport ingest",
        description=(
            "Takes touchpoint events from web storefronts, call-center software, email "
            "platforms and stores, validates them and publishes them to Kafka. A 2xx means "
            "the event is durably in Kafka (acks=all)."
        ),
        settings=settings,
        checks={"kafka": publisher.check},
        lifespan=lifespan,
    )
    app.state.publisher = publisher
    app.state.intake = Intake(settings, publisher)
    if settings.cors_origins:
        # Storefronts post from the browser: allow their origins to send the key and JSON.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.include_router(events.router)
    install_hot_events(app)
    app.include_router(webhooks.router)
    install_openapi(app, settings)
    return app
