"""Which database failures the consumer loop retries (instead of dead-lettering the batch)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from rapport_events.db import is_transient


def wrapped(driver_error: Exception) -> DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises: a DBAPIError whose cause is the driver's."""
    adapted = Exception("adapted")
    adapted.__cause__ = driver_error
    return DBAPIError("SELECT 1", {}, adapted)


def test_a_server_shutting_down_mid_transaction_is_transient() -> None:
    assert is_transient(wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")))
    assert is_transient(wrapped(asyncpg.exceptions.CannotConnectNowError("shutting down")))


def test_a_lost_race_between_transactions_is_transient() -> None:
    assert is_transient(wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")))
    assert is_transient(wrapped(asyncpg.exceptions.SerializationError("could not serialize")))


def test_bad_data_and_statement_timeouts_are_not_transient() -> None:
    assert not is_transient(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))
    assert not is_transient(wrapped(asyncpg.exceptions.QueryCanceledError("statement timeout")))
    assert not is_transient(ValueError("not a database problem"))


def test_an_exhausted_connection_pool_is_transient() -> None:
    # Every pooled connection busy past the pool timeout: overload, worth a retry (a 503 on
    # the API, not a 500; a retried batch in a consumer, not a dead letter).
    assert is_transient(PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached"))
