"""Use cases after the fold: rank again the customers it marked stale, queue the best offers
that changed (the outbox) and publish them; add its pending co-occurrence increments to
item_pairs. Bounded chunks per call; several replicas share the work.

Three short units of work, none holding a lock while it ranks: claim a chunk (a lease),
rank it from committed state, then settle: write what is still ours to write and clear the
marks no fold renewed meanwhile. A crash anywhere loses nothing: the marks stay until settled,
and an abandoned lease runs out (`rerank_lease_seconds`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent, now_utc
from rapport_events.kafka import Publisher
from rapport_recommender.domain.facts import Priority
from rapport_recommender.domain.reach import by_reach
from rapport_recommender.handlers import (
    Ranking,
    fold_into,
    publish_changed_offers,
    rank_customers,
    record_best,
    stored_ranking,
)
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import pairs, ranked, reach, stale
from rapport_recommender.store.reads import POPULAR, MarketReads

DUE_CHUNK = 500  # rankings made wrong by time alone, marked again per step


class Outbox:
    """Sends the best offers that rankings queued. The re-rankers of a process share one, so
    that two of them never send everything queued at once.

    A lane that ranks a few customers at once sends theirs alone (`send_only`, or `expect`
    then `send_expected`): not behind the oldest thousand the ordinary rankings queued, nor
    behind this process's send of them. Under load, a complaint's offer went out with a
    thousand others, in the express process, in turn with the `work` process's sender."""

    def __init__(self, db: Database, publisher: Publisher, topic: str) -> None:
        self._db = db
        self._publisher = publisher
        self._topic = topic
        self._sending = asyncio.Lock()
        self._expected: set[uuid.UUID] = set()

    async def send(self) -> int:
        """Everything queued, oldest first (a thousand at most per call)."""
        async with self._sending:
            return await publish_changed_offers(self._db, self._publisher, self._topic)

    async def send_only(self, profile_ids: Collection[uuid.UUID]) -> int:
        """What is queued of these customers (what a lane just ranked)."""
        if not profile_ids:
            return 0
        return await publish_changed_offers(
            self._db, self._publisher, self._topic, sorted(profile_ids)
        )

    def expect(self, profile_ids: Collection[uuid.UUID]) -> None:
        """A lane ranked these: `send_expected` sends theirs next."""
        self._expected.update(profile_ids)

    async def send_expected(self) -> int:
        expected, self._expected = self._expected, set()
        try:
            return await self.send_only(expected)
        except BaseException:
            self._expected |= expected  # still queued in the database: the next call tries
            raise


async def rerank_stale(db: Database, settings: RecommenderSettings) -> list[uuid.UUID]:
    """Rank one chunk of stale customers, the most pressing first, but not those marked at
    once: they are the at-once lane's (run beside this one wherever this one runs), which
    ranks them in chunks small enough to be quick; taken into a chunk of this lane under
    load, they waited seconds. Returns the customers claimed (none: nothing waiting, or only
    marks whose folded pairs wait for the merger)."""
    return await _rerank(db, settings, at_once=False)


async def rerank_at_once(
    db: Database, settings: RecommenderSettings, market: MarketReads | None = None
) -> list[uuid.UUID]:
    """The lane for customers a complaint or a consent changed: ranked as soon as their fold
    commits, not behind a chunk of ordinary marks. For speed it does not wait for the pair
    merge and may use a `market` read a few seconds ago (the API's); so that the complete pass
    still comes, with every co-purchase folded before it, their marks stay, as ordinary ones.
    Returns the customers claimed."""
    return await _rerank(db, settings, at_once=True, market=market)


async def _rerank(
    db: Database, settings: RecommenderSettings, *, at_once: bool, market: MarketReads | None = None
) -> list[uuid.UUID]:
    token = uuid.uuid4()
    lease = timedelta(seconds=settings.rerank_lease_seconds)
    async with db.transaction() as conn:
        if at_once:
            claimed = await stale.claim(
                conn, token, settings.at_once_chunk, lease, at_least=Priority.AT_ONCE
            )
        else:
            await stale.queue_due(conn, now_utc(), DUE_CHUNK)
            claimed = await stale.claim(
                conn, token, settings.rerank_chunk, lease, below=Priority.AT_ONCE, after_merge=True
            )
    if not claimed:
        return []
    now = now_utc()
    async with db.connection() as conn:
        ranking = await rank_customers(conn, settings, claimed, now, market=market)
    async with db.transaction() as conn:
        held = await stale.settle(conn, token, claimed, requeue=at_once)
        await _save_rankings(conn, ranking, [pid for pid in claimed if pid in held], now)
    if at_once and (unsettled := set(claimed) - held):
        # A fold held these marks as they settled, renewing them at its own priority (a card
        # change that followed the complaint: in turn); this ranking was not written, so they
        # must stay in the lane, or wait behind every ordinary mark.
        async with db.transaction() as conn:
            await stale.keep_priority(conn, unsettled, Priority.AT_ONCE)
    return list(claimed)


async def fold_and_rank_at_once(
    db: Database,
    settings: RecommenderSettings,
    events: Sequence[TouchpointEvent],
    market: MarketReads,
) -> list[uuid.UUID]:
    """The express lane's unit of work: live complaints and consents folded, and the customers
    they marked at once ranked, in one transaction; returns those customers.

    Not a fold, a claim and a settle of their own: on a busy host each transaction is round
    trips that wait for the CPU, and they were most of a complaint's way to its offer. Until
    this commits, the marks it wrote are locked by it: no re-ranker can claim them, and one
    that claimed them before (an ordinary pass ranking from before the complaint) finds its
    claim gone when it settles, and writes nothing. They stay as ordinary marks for the
    complete pass, as the at-once lane leaves them."""
    async with db.transaction() as conn:
        folded = await fold_into(conn, settings, events, [], ahead=True)
        profile_ids = sorted(folded.at_once)
        if not profile_ids:
            return []
        now = now_utc()
        ranking = await rank_customers(conn, settings, profile_ids, now, market=market)
        await stale.in_turn(conn, profile_ids)
        await _save_rankings(conn, ranking, profile_ids, now)
    return profile_ids


async def _save_rankings(
    conn: AsyncConnection, ranking: Ranking, profile_ids: Sequence[uuid.UUID], now: datetime
) -> None:
    """Store the rankings of `profile_ids` and queue the best offers that changed."""
    # A merged-away id is dropped: the merge marked its survivor, ranked under its own id.
    mine = [pid for pid in profile_ids if ranking.survivor_of[pid] == pid]
    await record_best(conn, ranking.ranked, mine)
    # What GET offers serves; an erased customer (absent from `ranked`) gets no row.
    await ranked.save(conn, (stored_ranking(ranking, p, now) for p in mine if p in ranking.ranked))


async def rerank_and_publish(db: Database, settings: RecommenderSettings, outbox: Outbox) -> int:
    """One step of the re-ranker: a chunk ranked, then whatever the outbox holds sent (what
    fails to go out stays there for the next step, or the next instance).

    The chunk is of customers whose folded co-purchases are all merged (`stale.claim`'s
    `after_merge`): a stored ranking is only redone when something marks them again, so one
    made before those pairs reached item_pairs would stay without them. The merger runs
    beside it (`merge_pending_pairs`), not before each chunk: after a backlog the merges took
    seconds each, one core of PostgreSQL, while the ranking waited."""
    claimed = await rerank_stale(db, settings)
    await outbox.send()
    return len(claimed)


async def rerank_at_once_and_publish(
    db: Database, settings: RecommenderSettings, outbox: Outbox, market: MarketReads
) -> int:
    """One step of the at-once lane: a chunk of its customers ranked, and their offers sent."""
    claimed = await rerank_at_once(db, settings, market)
    await outbox.send_only(claimed)
    return len(claimed)


async def merge_pending_pairs(db: Database, settings: RecommenderSettings) -> int:
    """Add a bounded number of folded batches' pair increments to item_pairs, exactly once
    (deleted in the same transaction); returns how many pairs changed. The oldest first: the
    marks renewed before the oldest batch left may be ranked."""
    async with db.transaction() as conn:
        return await pairs.merge(conn, settings.pair_merge_batches)


async def refresh_reach(db: Database, settings: RecommenderSettings) -> int:
    """Order the most bought items by reach again once the order is `reach_refresh_seconds`
    old (or missing); 1 when it did, 0 when it was fresh or another replica is at it."""
    async with db.transaction() as conn:
        last = await reach.refreshed_at(conn)
        now = now_utc()
        if last is not None and now - last < timedelta(seconds=settings.reach_refresh_seconds):
            return 0
        if not await reach.lock(conn):
            return 0
        buyers = await reach.buyers_of_top(conn, POPULAR)
        if not buyers:
            return 0
        await reach.replace(conn, by_reach(buyers), now)
        return 1
