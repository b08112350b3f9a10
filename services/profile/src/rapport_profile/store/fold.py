"""The fold's writes: set-based per batch, one statement per step, on the raw asyncpg
connection of the caller's transaction (the hot path: no per-row round trips, no ORM)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_profile.domain.identity_graph import Identifier
from rapport_profile.domain.profile import ProfileState
from rapport_profile.store.state_cache import Stamp
from rapport_profile.store.state_codec import from_row, state_document, with_columns


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside the transaction `conn` has begun."""
    await conn.execute(text("SELECT 1"))  # makes the adapter issue BEGIN before raw use
    raw = await conn.get_raw_connection()
    connection = raw.driver_connection
    assert connection is not None
    return connection


async def claim_events(db: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
    """Record the batch's events (ids as text) as folded; returns those that were not already.
    One comma-joined text parameter: the driver would encode a uuid[] element by element in
    Python, the server splits and casts the string in C."""
    rows = await db.fetch(
        "INSERT INTO processed_events (event_id) "
        "SELECT unnest(string_to_array($1::text, ','))::uuid "
        "ON CONFLICT DO NOTHING RETURNING event_id::text",
        ",".join(event_ids),
    )
    return {row[0] for row in rows}


async def tombstoned(db: asyncpg.Connection, hashes: Iterable[str]) -> dict[str, datetime]:
    rows = await db.fetch(
        "SELECT identifier_hash, erased_at FROM tombstones WHERE identifier_hash = ANY($1::text[])",
        list(hashes),
    )
    return {row["identifier_hash"]: row["erased_at"] for row in rows}


async def lock_identifiers(db: asyncpg.Connection, keys: Sequence[int]) -> None:
    """Transaction-scoped advisory locks on identifiers, taken in ascending order so that two
    folds of overlapping identifiers queue instead of deadlocking."""
    await db.execute(
        "SELECT count(pg_advisory_xact_lock(key)) FROM unnest($1::bigint[]) AS key",
        sorted(set(keys)),
    )


async def owners(
    db: asyncpg.Connection, identifiers: Sequence[Identifier]
) -> dict[Identifier, uuid.UUID]:
    kinds, values = zip(*identifiers, strict=True) if identifiers else ((), ())
    rows = await db.fetch(
        "SELECT i.kind, i.value, i.profile_id FROM identities i "
        "JOIN unnest($1::text[], $2::text[]) AS wanted(kind, value) "
        "ON i.kind = wanted.kind AND i.value = wanted.value",
        list(kinds),
        list(values),
    )
    return {(row["kind"], row["value"]): row["profile_id"] for row in rows}


PROFILE_COLUMNS = (
    "profile_id, merged_into, created_at, first_seen, last_seen, orders, revenue, refunds, "
    "lifecycle_stage, value_tier, recency_score, frequency_score, monetary_score, version"
)
_LOCKED_COLUMNS = ", ".join(f"p.{column.strip()}" for column in PROFILE_COLUMNS.split(","))


async def lock_profiles(
    db: asyncpg.Connection,
    profile_ids: Iterable[uuid.UUID],
    cached: Mapping[uuid.UUID, Stamp] | None = None,
) -> list[asyncpg.Record]:
    """Lock profile rows in id order and return them (merged_into tells a merge raced us).

    `state` is NULL where the row still shows the version and creation time in `cached`: the
    caller holds that state already, the server need not send it."""
    cached = cached or {}
    return list(
        await db.fetch(
            # state as text: orjson reads it several times faster than the driver's codec
            f"SELECT {_LOCKED_COLUMNS}, CASE WHEN p.version = c.version "  # noqa: S608
            "AND p.created_at = c.created_at THEN NULL ELSE p.state::text END AS state "
            "FROM profiles p LEFT JOIN unnest($2::uuid[], $3::bigint[], $4::timestamptz[]) "
            "AS c(id, version, created_at) ON c.id = p.profile_id "
            "WHERE p.profile_id = ANY($1::uuid[]) ORDER BY p.profile_id FOR UPDATE OF p",
            sorted(set(profile_ids)),
            list(cached),
            [version for version, _ in cached.values()],
            [created_at for _, created_at in cached.values()],
        )
    )


async def outdated(db: asyncpg.Connection, held: Mapping[uuid.UUID, Stamp]) -> list[uuid.UUID]:
    """Of the cached profiles in `held`, those whose row is gone (erased), merged away, or no
    longer shows the cached version and creation time."""
    rows = await db.fetch(
        "SELECT c.id FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) "
        "AS c(id, version, created_at) LEFT JOIN profiles p ON p.profile_id = c.id "
        "WHERE p.profile_id IS NULL OR p.merged_into IS NOT NULL OR p.version <> c.version "
        "OR p.created_at <> c.created_at",
        list(held),
        [version for version, _ in held.values()],
        [created_at for _, created_at in held.values()],
    )
    return [row["id"] for row in rows]


async def profile_documents(
    db: asyncpg.Connection, profile_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The state documents of rows this transaction has locked (a cache entry was gone)."""
    rows = await db.fetch(
        "SELECT profile_id, state::text AS state FROM profiles WHERE profile_id = ANY($1::uuid[])",
        list(profile_ids),
    )
    return {row["profile_id"]: row["state"] for row in rows}


def load(record: Mapping[str, Any], cached: ProfileState | None = None) -> ProfileState:
    return from_row(record) if cached is None else with_columns(cached, record)


# The batch's profiles arrive as one JSON array of rows: the driver's array encoding checks
# every element of every column in Python (a dozen columns per profile), orjson does not.
PROFILE_VALUES = """
    (SELECT (e->>0)::uuid AS id, (e->>1)::timestamptz AS created,
            (e->>2)::timestamptz AS first_seen, (e->>3)::timestamptz AS last_seen,
            (e->>4)::int AS orders, (e->>5)::numeric AS revenue, (e->>6)::numeric AS refunds,
            (e->>7)::timestamptz AS last_order_at, e->>8 AS stage, e->>9 AS why,
            (e->>10)::bigint AS version, e->11 AS state
     FROM jsonb_array_elements($1::jsonb) AS e) AS v
"""


def _exact(value: object) -> str:
    """Money as its exact decimal string; a driver UUID (a uuid.UUID subclass) as text."""
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _profile_rows(states: Sequence[ProfileState], lifecycle_why: dict[uuid.UUID, str]) -> str:
    return orjson.dumps(
        [
            (
                s.profile_id,
                s.created_at,
                s.first_seen,
                s.last_seen,
                s.orders,
                s.revenue,
                s.refunds,
                s.last_order_at,
                s.lifecycle_stage,
                lifecycle_why.get(s.profile_id),
                s.version,
                orjson.Fragment(state_document(s)),
            )
            for s in states
        ],
        default=_exact,
    ).decode()


async def save_profiles(
    db: asyncpg.Connection,
    states: Sequence[ProfileState],
    lifecycle_why: dict[uuid.UUID, str],
    *,
    existing: set[uuid.UUID],
) -> None:
    """Overwrite the folded profiles (`existing`, locked by this transaction) and insert the
    new ones: one statement each. A plain UPDATE joined to the batch costs the server less
    than an upsert, which probes the index and takes the conflict path for every row."""
    updated = [s for s in states if s.profile_id in existing]
    created = [s for s in states if s.profile_id not in existing]
    if updated:
        await db.execute(
            f"""
            UPDATE profiles SET created_at = v.created, first_seen = v.first_seen,
                   last_seen = v.last_seen, orders = v.orders, revenue = v.revenue,
                   refunds = v.refunds, last_order_at = v.last_order_at,
                   lifecycle_stage = v.stage, lifecycle_why = v.why, version = v.version,
                   state = v.state
            FROM {PROFILE_VALUES} WHERE profiles.profile_id = v.id
            """,  # noqa: S608 - a constant, no input
            _profile_rows(updated, lifecycle_why),
        )
    if created:
        # ON CONFLICT only as a guard: a new profile's derived id is not expected to exist.
        await db.execute(
            f"""
            INSERT INTO profiles (profile_id, created_at, first_seen, last_seen, orders,
                                  revenue, refunds, last_order_at, lifecycle_stage,
                                  lifecycle_why, version, state)
            SELECT id, created, first_seen, last_seen, orders, revenue, refunds,
                   last_order_at, stage, why, version, state
            FROM {PROFILE_VALUES}
            ON CONFLICT (profile_id) DO UPDATE SET
                created_at = excluded.created_at, first_seen = excluded.first_seen,
                last_seen = excluded.last_seen, orders = excluded.orders,
                revenue = excluded.revenue, refunds = excluded.refunds,
                last_order_at = excluded.last_order_at,
                lifecycle_stage = excluded.lifecycle_stage,
                lifecycle_why = excluded.lifecycle_why, version = excluded.version,
                state = excluded.state
            """,  # noqa: S608 - a constant, no input
            _profile_rows(created, lifecycle_why),
        )


async def merge_away(db: asyncpg.Connection, merges: dict[uuid.UUID, uuid.UUID]) -> None:
    """Point merged profiles (and whatever was merged into them) at their survivor and move
    their identifiers and history there. `merges` maps merged-away id → survivor id."""
    losers, survivors = list(merges), list(merges.values())
    mapping = "unnest($1::uuid[], $2::uuid[]) AS m(loser, survivor)"
    await db.execute(
        f"UPDATE identities SET profile_id = m.survivor FROM {mapping} "  # noqa: S608
        "WHERE identities.profile_id = m.loser",
        losers,
        survivors,
    )
    await db.execute(
        f"UPDATE interactions SET profile_id = m.survivor FROM {mapping} "  # noqa: S608
        "WHERE interactions.profile_id = m.loser",
        losers,
        survivors,
    )
    await db.execute(
        f"UPDATE profiles SET merged_into = m.survivor, state = '{{}}'::jsonb, orders = 0, "  # noqa: S608
        "revenue = 0, refunds = 0, value_tier = NULL, lifecycle_stage = NULL "
        f"FROM {mapping} WHERE profiles.profile_id = m.loser OR profiles.merged_into = m.loser",
        losers,
        survivors,
    )


async def add_identities(
    db: asyncpg.Connection, rows: Sequence[tuple[str, str, uuid.UUID, datetime]]
) -> None:
    if not rows:
        return
    kinds, values, profile_ids, seen = zip(*rows, strict=True)
    await db.execute(
        "INSERT INTO identities (kind, value, profile_id, first_seen) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[]) "
        "ON CONFLICT DO NOTHING",
        list(kinds),
        list(values),
        list(profile_ids),
        list(seen),
    )


async def identifiers_of(
    db: asyncpg.Connection, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Identifier]]:
    rows = await db.fetch(
        "SELECT profile_id, kind, value FROM identities WHERE profile_id = ANY($1::uuid[])",
        list(profile_ids),
    )
    found: dict[uuid.UUID, list[Identifier]] = {}
    for row in rows:
        found.setdefault(row["profile_id"], []).append((row["kind"], row["value"]))
    return found


InteractionRow = tuple[uuid.UUID, datetime, uuid.UUID, str, str, str, str, Decimal | None]


async def add_interactions(db: asyncpg.Connection, rows: Sequence[InteractionRow]) -> None:
    """COPY the batch's interactions in (each event was claimed once, so none conflicts)."""
    if rows:
        await db.copy_records_to_table(
            "interactions",
            records=rows,
            columns=[
                "profile_id",
                "occurred_at",
                "event_id",
                "channel",
                "type",
                "summary",
                "details",
                "amount",
            ],
        )


async def truncate_fold_state(db: asyncpg.Connection) -> None:
    """For a replay: forget everything folded, keep tombstones and erasure records."""
    await db.execute("TRUNCATE profiles, identities, processed_events, interactions")
