"""The whole system running in this test session: ingest, profile and recommender served by
real uvicorn servers on loopback, against the session's real Kafka topics and databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest

from rapport_events.auth import new_key
from rapport_events.settings import KafkaSettings
from rapport_ingest.api.app import build_app as build_ingest
from rapport_ingest.settings import IngestSettings
from rapport_profile.api.app import build_app as build_profile
from rapport_profile.console import ConsoleSettings
from rapport_profile.settings import ProfileSettings
from rapport_recommender.api.app import build_app as build_recommender
from rapport_recommender.settings import RecommenderSettings
from support.fixtures import Databases, database_settings
from support.keys import ApiKeys
from support.servers import running


@dataclass(frozen=True)
class Stack:
    ingest: str
    profile: str
    recommender: str
    keys: ApiKeys
    kafka: KafkaSettings


@pytest.fixture(scope="session")
async def stack(
    kafka_settings: KafkaSettings, databases: Databases, keys: ApiKeys
) -> AsyncIterator[Stack]:
    common = {"api_keys": keys.config(), "kafka": kafka_settings, "log_json": True}
    async with AsyncExitStack() as servers:
        ingest = await servers.enter_async_context(running(build_ingest(IngestSettings(**common))))
        profile_app = build_profile(
            ProfileSettings(
                **common,
                database=database_settings(databases.profile),
                consumer_group=f"{kafka_settings.topic_namespace}profile",
            )
        )
        profile = await servers.enter_async_context(running(profile_app))
        recommender = await servers.enter_async_context(
            running(
                build_recommender(
                    RecommenderSettings(
                        **common,
                        database=database_settings(databases.recommender),
                        consumer_group=f"{kafka_settings.topic_namespace}recommender",
                    )
                )
            )
        )
        # The console (in the profile service) reaches the others over HTTP; its settings are
        # read on its first request, so they can be given once every URL is known.
        profile_app.state.console_settings = ConsoleSettings(
            recommender_url=recommender,
            ingest_url=ingest,
            ingest_key=keys.console_ingest,  # type: ignore[arg-type]
            session_secret=new_key(),  # type: ignore[arg-type]
        )
        yield Stack(ingest, profile, recommender, keys, kafka_settings)
