"""The Rapport stack as real subprocesses: what the benchmark and the fault suite both drive.

Services run as `.venv/bin/rapport-<name> serve` children so that they can be killed with
SIGKILL, restarted one at a time and measured per process (RSS, CPU). Each stack gets its own
topic namespace and its own freshly migrated databases, so that it can share a broker and a
PostgreSQL server with everyone else on the machine. The private Kafka and PostgreSQL classes
start a broker or a server of the stack's own (with the project's deploy/local scripts) for the
scenarios that stop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from rapport_events.auth import Scope, hash_key, new_key
from rapport_events.kafka import delete_topics, ensure_topics
from rapport_events.settings import KafkaSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
LOCAL_SCRIPTS = REPO_ROOT / "deploy" / "local"

SERVICES = ("ingest", "profile", "recommender")
WORK_NICENESS = 10  # RAPPORT_NICENESS of deploy/k8s/base/recommender/work-deployment.yaml
WITH_DATABASE = ("profile", "recommender")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def asyncpg_dsn(url: str) -> str:
    """asyncpg speaks `postgresql://`; the services' settings use SQLAlchemy's form."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass(frozen=True)
class Infra:
    """Where the broker and the database server are (a SQLAlchemy URL of a usable database)."""

    kafka_bootstrap: str
    database_url: str

    @classmethod
    def from_env(cls) -> Infra:
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        database = os.environ.get("DATABASE_URL")
        if not (kafka and database):
            env_file = REPO_ROOT / ".local" / "infra.env"
            if env_file.exists():
                values = dict(
                    line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
                )
                kafka = kafka or values.get("KAFKA_BOOTSTRAP_SERVERS")
                database = database or values.get("DATABASE_URL")
        if not (kafka and database):
            raise RuntimeError(
                "set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (or run under "
                "deploy/local/with-infra.sh)"
            )
        return cls(kafka, database)


@dataclass(frozen=True)
class Key:
    """One API key in clear (for the caller) with the scopes it carries."""

    name: str
    secret: str
    scopes: tuple[str, ...]
    channels: tuple[str, ...] | None = None

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def entry(self) -> dict[str, object]:
        return {
            "name": self.name,
            "sha256": hash_key(self.secret),
            "scopes": list(self.scopes),
            "channels": list(self.channels) if self.channels is not None else None,
        }


def make_key(name: str, *scopes: str) -> Key:
    return Key(name, new_key(), scopes or Scope.ALL)


def keys_config(keys: list[Key]) -> str:
    return json.dumps([key.entry() for key in keys])


@dataclass
class ServiceProcess:
    """One service process: started, probed, stopped gracefully or killed."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    command: str = "serve"
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [str(VENV_BIN / f"rapport-{self.name}"), self.command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        log.close()
        self.started_at = time.monotonic()

    async def wait_ready(self, within: float = 90) -> float:
        """Poll /readyz until 200; returns the seconds it took. Raises with the log tail."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return time.monotonic() - self.started_at
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready within {within} s:\n{self.log_tail()}")

    async def terminate(self, grace: float = 40) -> int | None:
        """SIGTERM and wait: the service finishes in-flight requests and its current batch."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return await asyncio.to_thread(self.process.wait)

    async def kill(self) -> None:
        """SIGKILL: no grace, no flush, no commit — the crash the consumers must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)

    def rss_bytes(self) -> int:
        return psutil.Process(self.pid).memory_info().rss if self.alive() else 0

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    """Ingest, profile and recommender as subprocesses on one topic namespace and own databases.

    Use as `async with Stack(infra) as stack: await stack.start_all()`. On the way out every
    process is stopped and the databases and topics are dropped (set RAPPORT_KEEP_STACK=1 to
    keep them for a post-mortem).
    """

    infra: Infra
    partitions: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    label: str = "stack"
    namespace: str = field(default_factory=lambda: f"stack-{uuid.uuid4().hex[:8]}.")
    admin: Key = field(default_factory=lambda: make_key("admin"))
    keys: list[Key] = field(default_factory=list)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rapport-stack-")))
    databases: dict[str, str] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)  # databases replaced by `start_over`
    generations: dict[str, int] = field(default_factory=dict)
    extra_topics: list[str] = field(default_factory=list)
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.infra.kafka_bootstrap,
            topic_namespace=self.namespace,
            partitions=self.partitions,
        )

    async def __aenter__(self) -> Stack:
        await self.create()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def create(self) -> None:
        """Topics under the namespace, and a fresh migrated database per stateful service."""
        await ensure_topics(self.kafka)
        for name in WITH_DATABASE:
            self.databases[name] = await self._create_database(name)

    async def topic(self, name: str) -> str:
        """A scratch topic under the namespace (created now, deleted with the stack)."""
        full = f"{self.namespace}{name}"
        await ensure_topics(self.kafka, (full,))
        self.extra_topics.append(full)  # asked for again is fine: deletion names each once
        return full

    async def start_over(self, name: str) -> None:
        """A fresh database for service `name` and a consumer group of its own: its next
        process folds the topic again from the beginning into an empty store."""
        self.retired.append(self.databases[name])
        self.databases[name] = await self._create_database(name)
        self.generations[name] = self.generations.get(name, 0) + 1

    def group(self, name: str) -> str:
        """The consumer group of service `name`'s processes."""
        generation = self.generations.get(name, 0)
        return f"{self.namespace}{name}" + (f"-{generation}" if generation else "")

    async def _create_database(self, service: str) -> str:
        db_name = f"{self.label}_{service}_{uuid.uuid4().hex[:8]}".replace("-", "_")
        connection = await asyncpg.connect(asyncpg_dsn(self.infra.database_url))
        try:
            await connection.execute(f'CREATE DATABASE "{db_name}"')
        finally:
            await connection.close()
        url = self.infra.database_url.rsplit("/", 1)[0] + "/" + db_name
        migrate = await asyncio.create_subprocess_exec(
            str(VENV_BIN / f"rapport-{service}"),
            "migrate",
            env={**os.environ, "DATABASE_URL": url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await migrate.communicate()
        if migrate.returncode != 0:
            raise RuntimeError(f"rapport-{service} migrate failed:\n{output.decode()[-2000:]}")
        return url

    def env_for(self, name: str, port: int) -> dict[str, str]:
        env = {
            **os.environ,
            "RAPPORT_HOST": "127.0.0.1",
            "RAPPORT_PORT": str(port),
            "RAPPORT_API_KEYS": keys_config([self.admin, *self.keys]),
            "RAPPORT_LOG_JSON": "true",
            "RAPPORT_LOG_LEVEL": "WARNING",
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "KAFKA_TOPIC_NAMESPACE": self.namespace,
            "KAFKA_PARTITIONS": str(self.partitions),
            "RAPPORT_CONSUMER_GROUP": self.group(name),
        }
        # Let Python cache bytecode: recompiling every module costs each start seconds of CPU.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if name in self.databases:
            env["DATABASE_URL"] = self.databases[name]
        env.update(self.extra_env)
        return env

    def spawn(
        self, name: str, command: str = "serve", env: dict[str, str] | None = None
    ) -> ServiceProcess:
        """A new (not yet started) process of `name` on a free port, tracked by the stack."""
        port = free_port()
        index = sum(1 for process in self.processes if process.name == name)
        service = ServiceProcess(
            name,
            port,
            {**self.env_for(name, port), **(env or {})},
            self.log_dir / f"{name}-{index}.log",
            command,
        )
        self.processes.append(service)
        return service

    async def start(
        self, name: str, command: str = "serve", env: dict[str, str] | None = None
    ) -> ServiceProcess:
        service = self.spawn(name, command, env)
        service.start()
        await service.wait_ready()
        return service

    async def start_recommender_as_deployed(self, serving: int = 1) -> list[ServiceProcess]:
        """The recommender's processes as deploy/k8s/base runs them: `work` re-ranking in turn
        at a lower CPU priority, `express` folding live complaints and consents ahead of the
        stream and ranking them at once, then `serving` processes of `serve` folding, ranking
        complaints and consents at once and answering HTTP (started last: `url("recommender")`
        is the newest process's)."""
        work = await self.start(
            "recommender",
            "work",
            {"RAPPORT_AT_ONCE_LANE_ENABLED": "false", "RAPPORT_NICENESS": str(WORK_NICENESS)},
        )
        express = await self.start("recommender", "express")
        serve = {"RAPPORT_ORDINARY_LANE_ENABLED": "false"}
        started = await asyncio.gather(
            *(self.start("recommender", env=serve) for _ in range(serving))
        )
        return [work, express, *started]

    async def start_all(self) -> dict[str, ServiceProcess]:
        started = {name: self.spawn(name) for name in SERVICES}
        for service in started.values():
            service.start()
        await asyncio.gather(*(service.wait_ready() for service in started.values()))
        return started

    def live(self, name: str) -> list[ServiceProcess]:
        """The live processes of `name`, newest first."""
        return [p for p in reversed(self.processes) if p.name == name and p.alive()]

    def current(self, name: str) -> ServiceProcess:
        """The newest live process of `name`."""
        for process in reversed(self.processes):
            if process.name == name and process.alive():
                return process
        raise LookupError(f"no live {name} process")

    def url(self, name: str) -> str:
        return self.current(name).base_url

    @contextlib.asynccontextmanager
    async def committed_counter(self, name: str) -> AsyncIterator[Callable[[], Awaitable[int]]]:
        """A probe of the touchpoint records service `name`'s consumer group has committed
        (the topic starts empty, so: the records it has folded). The fold scenarios poll it
        several times a second. Counting the service's processed events instead would scan the
        table the fold is filling (~35 ms of a database core per 500,000 rows, on a fresh
        connection each time) and slow the fold it measures; this is one broker request."""
        topic = self.kafka.topics.touchpoints
        admin = AIOKafkaAdminClient(bootstrap_servers=self.infra.kafka_bootstrap)
        await admin.start()

        async def committed() -> int:
            offsets = await admin.list_consumer_group_offsets(self.group(name))
            return sum(
                meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0
            )

        try:
            yield committed
        finally:
            await admin.close()

    async def lag(self, name: str) -> int:
        """Touchpoint records service `name`'s consumer group has not committed yet."""
        topic = self.kafka.topics.touchpoints
        admin = AIOKafkaAdminClient(bootstrap_servers=self.infra.kafka_bootstrap)
        reader = AIOKafkaConsumer(bootstrap_servers=self.infra.kafka_bootstrap)
        await admin.start()
        await reader.start()
        try:
            committed = await admin.list_consumer_group_offsets(self.group(name))
            ends = await reader.end_offsets(
                [TopicPartition(topic, p) for p in range(self.partitions)]
            )
            return sum(
                end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
            )
        finally:
            await reader.stop()
            await admin.close()

    async def close(self) -> None:
        await asyncio.gather(*(process.terminate() for process in self.processes))
        if os.environ.get("RAPPORT_KEEP_STACK"):
            return
        for url in (*self.databases.values(), *self.retired):
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await drop_database(self.infra.database_url, url)
        with contextlib.suppress(Exception):
            await delete_topics(self.kafka, self.extra_topics)
        shutil.rmtree(self.log_dir, ignore_errors=True)


async def drop_database(base_url: str, url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(base_url), timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await connection.close()


async def read_only_query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Look into a service's database directly (read-only transaction) to check invariants."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        async with connection.transaction(readonly=True):
            rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
            return rows
    finally:
        await connection.close()


class _LocalInfra:
    """A private Kafka or PostgreSQL started by deploy/local/<script> in a temp state dir."""

    script: str = ""

    def __init__(self) -> None:
        # World-traversable: as root, postgres.sh runs the server as the `postgres` user.
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"rapport-private-{self.script}-"))
        self.state_dir.chmod(0o755)
        self.env = {**os.environ, "RAPPORT_STATE_DIR": str(self.state_dir)}

    def _run(self, action: str, timeout: float = 180) -> None:
        subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
            [str(LOCAL_SCRIPTS / f"{self.script}.sh"), action],
            env=self.env,
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def start(self) -> None:
        await asyncio.to_thread(self._run, "start")

    async def stop(self) -> None:
        await asyncio.to_thread(self._run, "stop")

    async def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            await self.stop()
        await asyncio.to_thread(shutil.rmtree, self.state_dir, True)


class PrivateKafka(_LocalInfra):
    script = "kafka"

    def __init__(self) -> None:
        super().__init__()
        self.port, self.controller_port = free_port(), free_port()
        self.env["RAPPORT_KAFKA_PORT"] = str(self.port)
        self.env["RAPPORT_KAFKA_CONTROLLER_PORT"] = str(self.controller_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class PrivatePostgres(_LocalInfra):
    script = "postgres"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.env["RAPPORT_PG_PORT"] = str(self.port)

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://rapport:rapport@127.0.0.1:{self.port}/rapport"
