"""The one way to reach PostgreSQL: an async engine and a transaction as the unit of work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from rapport_events.settings import DatabaseSettings

ReadsInit = Callable[[asyncpg.Connection], Awaitable[None]]

# Every connection's settings. No JIT: PostgreSQL compiles a statement whose estimated cost
# passes jit_above_cost, and set-returning functions over JSON (the pair merge, the folds'
# json_to_recordset) are estimated at hundreds of thousands whatever they hold. The pair merge
# spent 68% of its time compiling (14 of 20 s at 1,000 ev/s, ~100 ms a call) for statements
# that run in tens of milliseconds without it.
SERVER_SETTINGS = {"jit": "off"}


class Database:
    def __init__(self, settings: DatabaseSettings, *, reads_init: ReadsInit | None = None) -> None:
        """`reads_init` runs once on each new `reader()` connection (e.g. the hot statements
        once, so that the first request on it does not pay the backend's cold start)."""
        self.url = settings.database_url.get_secret_value()
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            # No pre-ping: it costs a round trip on every checkout, doubling a card read. A
            # connection killed under us fails one unit of work as transient (a 503 or a retried
            # batch), and SQLAlchemy then invalidates the whole pool.
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={"server_settings": SERVER_SETTINGS},
        )
        self._pool_size = settings.database_pool_size
        self._reads: asyncpg.Pool | None = None
        self._reads_opening = asyncio.Lock()
        self._reads_init = reads_init

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: everything inside commits together or not at all."""
        async with self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection for queries that need no transaction of their own."""
        async with self.engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[asyncpg.Connection]:
        """A bare asyncpg connection for hot, read-only paths (one statement each, its own
        snapshot): no SQLAlchemy checkout or greenlet hop, and no reset query on release,
        which would cost a round trip per request. Callers must leave no session state
        behind (no SET, LISTEN, advisory locks or open transaction)."""
        pool = self._reads or await self.open_reads()
        async with pool.acquire() as connection:
            yield connection

    async def open_reads(self) -> asyncpg.Pool:
        """The `reader()` pool, opened whole: every connection at once and none closed when
        idle. A connection opened under load costs the request that waits for it the connect
        and the new backend's cold first statements (~60 ms measured, against ~1 ms for a read
        on a warm one), so a pool that grows with the load shows as its latency tail."""
        async with self._reads_opening:
            if self._reads is None:
                self._reads = await asyncpg.create_pool(
                    self.engine.url.set(drivername="postgresql").render_as_string(
                        hide_password=False
                    ),
                    min_size=self._pool_size,
                    max_size=self._pool_size,
                    max_inactive_connection_lifetime=0,
                    init=self._reads_init,
                    reset=_nothing_to_reset,
                    server_settings=SERVER_SETTINGS,
                )
            return self._reads

    async def check(self) -> None:
        async with self.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), 3)

    async def dispose(self) -> None:
        if self._reads is not None:
            await self._reads.close()
            self._reads = None
        await self.engine.dispose()


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """`Database.reader` connections carry no session state (see there)."""


# The server's own words for "I am going away or not there yet": class 08 (connection exception),
# admin_shutdown, crash_shutdown, cannot_connect_now. Not the rest of class 57: a statement
# timeout (57014) on one record must end in the dead-letter topic, not retry forever.
# Also "you lost a race": serialization_failure and deadlock_detected roll the loser back whole,
# and running it again is PostgreSQL's own advice (it says nothing about the data).
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01")


def _server_going_away(error: BaseException) -> bool:
    """SQLAlchemy wraps the driver's error (a plain DBAPIError when PostgreSQL shuts down
    mid-transaction): look down the cause chain for the SQLSTATE the server sent."""
    cause: BaseException | None = error
    for _ in range(6):
        if cause is None:
            return False
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
        cause = cause.__cause__ or getattr(cause, "orig", None)
    return False


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: the database (or the network to it) is down, not the data."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, PoolTimeoutError):  # every pooled connection busy: overloaded, retry
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if _server_going_away(error):
        return True
    return isinstance(
        error,
        OSError
        | TimeoutError
        | ConnectionError
        | asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.InterfaceError,
    )


def upgrade_schema(migrations_dir: Path, url: str) -> None:
    """Run a service's Alembic migrations to head (blocking: call it from a thread)."""
    # Imported here: Alembic costs a serving process ~11 MB of RSS it never uses.
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


def run_migrations_online(target_metadata: MetaData, url: str) -> None:
    """The body of every service's Alembic `env.py`: migrate over asyncpg."""
    from alembic import context  # noqa: PLC0415 - only meaningful inside an Alembic run

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())
