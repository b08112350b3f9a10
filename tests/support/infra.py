"""Where the tests' Kafka and PostgreSQL come from, in this order of preference:

1. the environment names running ones (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`);
2. a Docker engine answers: testcontainers starts both (laptops, hosted CI);
3. otherwise the project's own scripts start them on loopback (`deploy/local/infra.sh up`).

Never a mock: integration and end-to-end tests run against the real broker and database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from rapport_events.db import upgrade_schema

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    database_url: str  # SQLAlchemy URL (postgresql+asyncpg://) of a database the tests may use


def _docker_available() -> bool:
    if os.environ.get("RAPPORT_TESTS_NO_DOCKER"):
        return False
    with suppress(Exception):
        import docker

        docker.from_env(timeout=2).ping()
        return True
    return False


@contextmanager
def infrastructure() -> Iterator[Endpoints]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if kafka and database:
        yield Endpoints(kafka, database)
        return
    if _docker_available():
        with _containers() as endpoints:
            yield Endpoints(kafka or endpoints.kafka_bootstrap, database or endpoints.database_url)
        return
    subprocess.run([REPO_ROOT / "deploy/local/infra.sh", "up"], check=True)
    env = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / ".local/infra.env").read_text().splitlines()
        if "=" in line
    )
    yield Endpoints(env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"])


@contextmanager
def _containers() -> Iterator[Endpoints]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
        PostgresContainer("postgres:15", driver="asyncpg") as postgres,
    ):
        yield Endpoints(kafka.get_bootstrap_server(), postgres.get_connection_url())


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_database(base_url: str, purpose: str, migrations: Path | None) -> str:
    """A fresh database beside `base_url`'s, migrated to head; returns its SQLAlchemy URL."""
    name = f"test_{purpose}_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(_asyncpg_dsn(base_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = base_url.rsplit("/", 1)[0] + "/" + name
    if migrations is not None:
        await asyncio.to_thread(upgrade_schema, migrations, url)
    return url


async def drop_database(base_url: str, url: str) -> None:
    """Drop a test database, best effort: a leftover one is litter, not a test failure.

    FORCE needs the right to signal other backends, which a least-privilege role may lack
    (an autovacuum worker, say); then wait for connections to go and drop plainly.
    """
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(_asyncpg_dsn(base_url))
    try:
        for attempt in range(10):
            try:
                force = "WITH (FORCE)" if attempt == 0 else ""
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" {force}')
                return
            except (
                asyncpg.exceptions.InsufficientPrivilegeError,
                asyncpg.exceptions.ObjectInUseError,
            ):
                await asyncio.sleep(0.5)
        warnings.warn(f"could not drop test database {name}", stacklevel=1)
    finally:
        await connection.close()
