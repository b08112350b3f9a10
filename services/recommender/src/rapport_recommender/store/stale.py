"""The re-ranking work queue (`stale_offers`): marks written by the fold, claimed by re-rankers.

A claim is a lease committed on its own (a uuid and an expiry), not a row lock held while the
customers are ranked: folds must never wait on a ranking. A fold that marks a customer already
claimed ends the lease (the claim stays, the expiry goes), which tells the claimant that its
ranking may have missed facts: it still writes what it found (progress for a customer with a
steady stream of events) but leaves the mark for one more pass. A newer claim (after a lease
ran out) makes the older claimant's result void, so two replicas never write out of order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import any_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import SmallInteger, Uuid

from rapport_recommender.store import ranked
from rapport_recommender.store.tables import pending_pairs, stale_offers

q = stale_offers.c


def _marks() -> Insert:
    """Marks from two arrays, `ids` and their `priority`; the statements on it are built once
    (composing one cost more Python per call than PostgreSQL took to run it)."""
    levels = bindparam("priority", type_=ARRAY(SmallInteger))
    rows = select(
        func.unnest(bindparam("ids", type_=ARRAY(Uuid))).label("profile_id"),
        func.unnest(levels).label("priority"),
    )
    return insert(stale_offers).from_select(["profile_id", "priority"], rows)


def _marked(ids: Sequence[uuid.UUID], priority: Mapping[uuid.UUID, int]) -> dict[str, object]:
    return {"ids": list(ids), "priority": [priority.get(pid, 0) for pid in ids]}


_MARKS = _marks()
_MARK = _MARKS.on_conflict_do_update(
    index_elements=[q.profile_id],
    set_={
        "claimed_until": None,
        "renewed_at": func.now(),
        # Under a live lease the ranking in flight covers the priority it claimed: the
        # renewal is as pressing as what renewed it; otherwise priority is never lost.
        "priority": case(
            (q.claimed_until > func.now(), _MARKS.excluded.priority),
            else_=func.greatest(q.priority, _MARKS.excluded.priority),
        ),
    },
)
_ASK = _MARKS.on_conflict_do_nothing(index_elements=[q.profile_id])
_IN_TURN = (
    update(stale_offers)
    .where(q.profile_id == any_(bindparam("ids", type_=ARRAY(Uuid))))
    .values(claim=None, claimed_until=None, priority=0)
)


async def mark(
    conn: AsyncConnection,
    profile_ids: Iterable[uuid.UUID],
    priority: Mapping[uuid.UUID, int] | None = None,
) -> None:
    """These customers' offers must be ranked again (inside the fold's own transaction), the
    ones with a `priority` (domain.facts.Priority) before the others."""
    priority = priority or {}
    ids = sorted(set(profile_ids) | set(priority))  # one lock order for every writer
    if not ids:
        return
    await conn.execute(_MARK, _marked(ids, priority))


async def ask(conn: AsyncConnection, profile_ids: Iterable[uuid.UUID]) -> None:
    """Ask for a ranking of customers not yet ranked (or ranked too long ago); unlike a fold's
    `mark`, a mark already there (maybe claimed) is left as it is: nothing new was folded."""
    ids = sorted(set(profile_ids))
    if ids:
        await conn.execute(_ASK, _marked(ids, {}))


async def queue_due(conn: AsyncConnection, now: datetime, limit: int) -> int:
    """Mark the customers whose stored ranking time alone has made wrong (a cart now
    abandoned, a week-old contact off the cap, an offer expired): ranked again like any other,
    so a best offer that changes with time is published too. Mark first, then the ranking, as
    every writer does. Returns how many."""
    due = await ranked.due(conn, now, limit)
    await ask(conn, due)
    await ranked.queued(conn, due, now)
    return len(due)


async def keep_priority(
    conn: AsyncConnection, profile_ids: Iterable[uuid.UUID], priority: int
) -> None:
    """These marks stay at least this pressing (a ranking that was to settle them was not
    written); waits for a fold that holds them to commit."""
    ids = sorted(set(profile_ids))
    if ids:
        await conn.execute(
            update(stale_offers)
            .where(q.profile_id.in_(ids))
            .values(priority=func.greatest(q.priority, priority))
        )


async def forget(conn: AsyncConnection, profile_ids: Iterable[uuid.UUID]) -> None:
    """Merged-away or erased ids: nothing of theirs is ranked again; a ranking in flight is
    void (its claim row is gone), and their stored ranking goes (the mark first: a settling
    re-ranker holds the mark before it writes a ranking, so this order cannot deadlock)."""
    ids = sorted(set(profile_ids))
    if ids:
        await conn.execute(delete(stale_offers).where(q.profile_id.in_(ids)))
        await ranked.forget(conn, ids)


async def claim(
    conn: AsyncConnection,
    token: uuid.UUID,
    limit: int,
    lease: timedelta,
    *,
    at_least: int = 0,
    below: int | None = None,
    after_merge: bool = False,
) -> list[uuid.UUID]:
    """Lease up to `limit` marks of priority `at_least` or more (and `below`, if given), the
    most pressing first, then oldest first, skipping those another re-ranker holds.

    With `after_merge`, only marks renewed before the oldest pair batch still pending: every
    batch folded before them is in item_pairs, so their ranking counts its co-purchases (a
    stored ranking is redone only when a fold marks the customer again). Both times are the
    folding transaction's now(): a batch and the marks its fold renewed are equal, and wait."""
    # A CTE runs once: as an IN (subquery) the planner may run the LIMIT again per row and
    # claim far more than `limit` (hundreds were seen under load), which made a step long.
    free = (
        select(q.profile_id)
        .where(or_(q.claimed_until.is_(None), q.claimed_until < func.now()))
        .order_by(q.priority.desc(), q.marked_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if at_least:
        free = free.where(q.priority >= at_least)
    if below is not None:
        free = free.where(q.priority < below)
    if after_merge:
        oldest = select(func.min(pending_pairs.c.created_at)).scalar_subquery()
        free = free.where(or_(oldest.is_(None), q.renewed_at < oldest))
    chosen = free.cte("free")
    rows = await conn.execute(
        update(stale_offers)
        .where(q.profile_id == chosen.c.profile_id)
        .values(claim=token, claimed_until=func.now() + lease)
        .returning(q.profile_id)
    )
    return sorted(rows.scalars())


async def settle(
    conn: AsyncConnection,
    token: uuid.UUID,
    profile_ids: Sequence[uuid.UUID],
    *,
    requeue: bool = False,
) -> set[uuid.UUID]:
    """Of the ids claimed with `token`, those whose ranking may be written: still under this
    claim. Clears the marks that no fold renewed meanwhile (or, with `requeue`, leaves them
    for a pass in turn); releases the renewed ones. Rows a fold holds right now are skipped
    (it is renewing them: they go round again)."""
    if not profile_ids:
        return set()
    rows = await conn.execute(
        select(q.profile_id, q.claimed_until)
        .where(q.profile_id.in_(sorted(profile_ids)), q.claim == token)
        .order_by(q.profile_id)
        .with_for_update(skip_locked=True)
    )
    held = {row.profile_id: row.claimed_until is not None for row in rows}
    done = sorted(pid for pid, unrenewed in held.items() if unrenewed)
    renewed = sorted(pid for pid, unrenewed in held.items() if not unrenewed)
    if done and requeue:
        await in_turn(conn, done)
    elif done:
        await conn.execute(delete(stale_offers).where(q.profile_id.in_(done)))
    if renewed:
        await conn.execute(update(stale_offers).where(q.profile_id.in_(renewed)).values(claim=None))
    return set(held)


async def in_turn(conn: AsyncConnection, profile_ids: Sequence[uuid.UUID]) -> None:
    """Ranked ahead of their turn: left as ordinary marks, for the complete pass, and
    unclaimed, so a claim taken on them before is void (its settle writes nothing)."""
    await conn.execute(_IN_TURN, {"ids": list(profile_ids)})


async def pending(conn: AsyncConnection) -> int:
    """How many customers wait to be ranked again (a gauge, and for tests and benchmarks)."""
    return int(await conn.scalar(select(func.count()).select_from(stale_offers)) or 0)
