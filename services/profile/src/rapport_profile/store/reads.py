"""The agent-facing reads in one round trip each: resolve the id asked for (merged-away,
erased, unknown) and fetch the card or a timeline page in the same statement.

Bare asyncpg connections (`Database.reader`), outside any transaction: one statement is its
own snapshot, and skipping SQLAlchemy (checkout, greenlet hop, BEGIN/ROLLBACK) keeps a read
to one round trip and a fraction of the CPU.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from rapport_profile.store.fold import PROFILE_COLUMNS

INTERACTION_COLUMNS = "event_id, occurred_at, channel, type, summary, details::text AS details"


@dataclass(frozen=True, slots=True)
class Resolved:
    """What an id asked for stands for: a survivor (live), an erasure date, or nothing."""

    survivor: uuid.UUID | None
    erased_at: datetime | None


def _resolved(row: asyncpg.Record) -> Resolved:
    # A live profile wins over an erasure record: a customer who came back after erasure
    # (new events, a new profile) may get the same derived id again.
    if row["survivor"] is not None:
        return Resolved(row["survivor"], None)
    return Resolved(None, row["erased_at"])


RESOLVE = """
    SELECT a.asked, coalesce(r.merged_into, r.profile_id) AS survivor, e.erased_at
    FROM (SELECT $1::uuid AS asked) a
    LEFT JOIN profiles r ON r.profile_id = a.asked
    LEFT JOIN erasures e ON e.profile_id = a.asked
"""

CARD = f"""
    WITH resolved AS ({RESOLVE})
    SELECT s.survivor, s.erased_at, p.scores_at, p.lifecycle_why,
           {", ".join(f"p.{c.strip()}" for c in PROFILE_COLUMNS.split(","))},
           p.state::text AS state,
           (SELECT array_agg(i.kind || ':' || i.value ORDER BY i.kind, i.value)
              FROM identities i WHERE i.profile_id = s.survivor) AS identities,
           (SELECT array_agg(m.profile_id ORDER BY m.profile_id)
              FROM profiles m WHERE m.merged_into = s.survivor) AS merged_ids,
           (SELECT json_agg(t)::text FROM (
                SELECT {INTERACTION_COLUMNS.replace("::text AS details", "")}
                FROM interactions
                WHERE profile_id = s.survivor
                ORDER BY occurred_at DESC, event_id DESC LIMIT $2) t) AS recent
    FROM resolved s LEFT JOIN profiles p ON p.profile_id = s.survivor
"""  # noqa: S608 - constants only


@dataclass(frozen=True, slots=True)
class CardRow:
    resolved: Resolved
    profile: Mapping[str, Any] | None  # None when not live (or erased between reads)
    identifiers: list[tuple[str, str]]
    merged_ids: list[uuid.UUID]
    recent: list[dict[str, Any]]


async def lookup(conn: asyncpg.Connection, kind: str, value: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT profile_id FROM identities WHERE kind = $1 AND value = $2", kind, value
    )
    return found


async def card(conn: asyncpg.Connection, profile_id: uuid.UUID, *, recent: int) -> CardRow:
    row = await conn.fetchrow(CARD, profile_id, recent)
    assert row is not None  # the VALUES side always yields one row
    identifiers = [tuple(item.split(":", 1)) for item in row["identities"] or []]
    return CardRow(
        resolved=_resolved(row),
        profile=row if row["profile_id"] is not None else None,
        identifiers=[(kind, value) for kind, value in identifiers],
        merged_ids=list(row["merged_ids"] or []),
        recent=_interactions(row["recent"]),
    )


def _interactions(aggregated: str | None) -> list[dict[str, Any]]:
    """`json_agg` rows as the timeline has them (a time as a datetime, not PostgreSQL's text)."""
    items: list[dict[str, Any]] = orjson.loads(aggregated) if aggregated else []
    for item in items:
        item["occurred_at"] = datetime.fromisoformat(item["occurred_at"])
    return items


@dataclass(frozen=True, slots=True)
class Page:
    resolved: Resolved
    items: list[dict[str, Any]]


async def timeline_page(
    conn: asyncpg.Connection,
    profile_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
    channel: str | None,
    type_: str | None,
) -> Page:
    """Newest first; keyset on (occurred_at, event_id) so pages are stable under inserts.

    Only the filters given appear in the statement (one prepared statement per combination),
    so the cursor is an index bound, not a filter a generic plan would scan past."""
    conditions, args = ["profile_id = s.survivor"], [profile_id, limit]
    if before is not None:
        args.extend(before)
        conditions.append(f"(occurred_at, event_id) < (${len(args) - 1}, ${len(args)}::uuid)")
    if channel is not None:
        args.append(channel)
        conditions.append(f"channel = ${len(args)}")
    if type_ is not None:
        args.append(type_)
        conditions.append(f"type = ${len(args)}")
    rows = await conn.fetch(
        f"""
        WITH resolved AS ({RESOLVE})
        SELECT s.survivor, s.erased_at, t.*
        FROM resolved s LEFT JOIN LATERAL (
            SELECT {INTERACTION_COLUMNS} FROM interactions
            WHERE {" AND ".join(conditions)}
            ORDER BY occurred_at DESC, event_id DESC LIMIT $2
        ) t ON true
        """,  # noqa: S608 - the statement is built from constants; values are parameters
        *args,
    )
    items = [
        {
            "event_id": row["event_id"],
            "occurred_at": row["occurred_at"],
            "channel": row["channel"],
            "type": row["type"],
            "summary": row["summary"],
            "details": orjson.loads(row["details"]),
        }
        for row in rows
        if row["event_id"] is not None
    ]
    return Page(_resolved(rows[0]), items)


async def warm(conn: asyncpg.Connection) -> None:
    """Run the hot statements once on a new pooled connection (`Database(reads_init=...)`):
    the backend loads its catalog caches and plans them, and asyncpg keeps them prepared. A
    fresh backend's first card read measured ~40 ms, the next ~1 ms: without this, whichever
    request comes first on each connection pays it."""
    nobody = uuid.UUID(int=0)
    await card(conn, nobody, recent=1)
    await timeline_page(conn, nobody, limit=21, before=None, channel=None, type_=None)
    await lookup(conn, "email", "")
