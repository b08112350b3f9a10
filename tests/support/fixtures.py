"""Session fixtures: infrastructure started once, isolated per session by topic namespace and
fresh databases, so that tests may run beside `make run` on the same broker and server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from rapport_events.db import Database
from rapport_events.kafka import Publisher, delete_topics, ensure_topics
from rapport_events.settings import DatabaseSettings, KafkaSettings
from support.infra import Endpoints, create_database, drop_database, infrastructure
from support.keys import ApiKeys, make_keys


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    with infrastructure() as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def keys() -> ApiKeys:
    return make_keys()


@asynccontextmanager
async def own_topics(
    bootstrap: str, label: str = "test", partitions: int = 4
) -> AsyncIterator[KafkaSettings]:
    """Kafka settings under a fresh namespace, its topics created: nothing else reads them.
    They are deleted on the way out, so that a broker kept between runs (`make run`'s) does
    not gather a few topics per test."""
    settings = KafkaSettings(
        bootstrap_servers=bootstrap,
        topic_namespace=f"{label}-{uuid.uuid4().hex[:8]}.",
        partitions=partitions,
    )
    await ensure_topics(settings)
    try:
        yield settings
    finally:
        await delete_topics(settings)


@pytest.fixture(scope="session")
async def kafka_settings(infra: Endpoints) -> AsyncIterator[KafkaSettings]:
    """Kafka settings under a namespace of this session's own, its topics created."""
    async with own_topics(infra.kafka_bootstrap) as settings:
        yield settings


@pytest.fixture
async def own_kafka(infra: Endpoints) -> AsyncIterator[KafkaSettings]:
    """Kafka settings under a namespace of this test's own: its topics created and empty."""
    async with own_topics(infra.kafka_bootstrap) as settings:
        yield settings


@pytest.fixture(scope="session")
async def publisher(kafka_settings: KafkaSettings) -> AsyncIterator[Publisher]:
    publisher = Publisher(kafka_settings)
    await publisher.start()
    yield publisher
    await publisher.stop()


@dataclass(frozen=True)
class Databases:
    profile: str
    recommender: str


@pytest.fixture(scope="session")
async def databases(infra: Endpoints) -> AsyncIterator[Databases]:
    """One migrated database per service for the session (each service owns its schema)."""
    from rapport_profile.store import MIGRATIONS as PROFILE
    from rapport_recommender.store import MIGRATIONS as RECOMMENDER

    created = Databases(
        profile=await create_database(infra.database_url, "profile", PROFILE),
        recommender=await create_database(infra.database_url, "recommender", RECOMMENDER),
    )
    yield created
    if not os.environ.get("RAPPORT_TESTS_KEEP_DATABASES"):
        for url in (created.profile, created.recommender):
            await drop_database(infra.database_url, url)


def database_settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(database_url=url, database_pool_size=5)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def profile_db(databases: Databases) -> AsyncIterator[Database]:
    db = Database(database_settings(databases.profile))
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
async def recommender_db(databases: Databases) -> AsyncIterator[Database]:
    db = Database(database_settings(databases.recommender))
    yield db
    await db.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
