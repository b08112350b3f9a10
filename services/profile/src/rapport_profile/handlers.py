"""Use cases of the profile service: fold a batch of events, erase a customer, refresh the
base-relative scores. Each opens one unit of work; HTTP routes and the consumer call these.

Messages to other services go through an outbox: each use case writes them into
`profile_outbox` in its own transaction, publishes them after the commit and deletes them once
Kafka acknowledged. Rows a crash or a broker outage left behind are published by
`drain_outbox` (at start-up and periodically), so no change is lost; one may come twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_events.changes import (
    Erased,
    Identified,
    Merged,
    ProfileChange,
    encode_change,
)
from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_events.identity import IdentityKind, identifier_hash
from rapport_events.kafka import Publisher
from rapport_events.observability import get_logger
from rapport_profile.domain.changes import NOTHING_KNOWN, card_changed, next_version
from rapport_profile.domain.identity_graph import Identifier, group_customers, new_profile_id
from rapport_profile.domain.profile import ProfileState, apply_event, merge_profiles
from rapport_profile.domain.scores import WINDOW_DAYS, lifecycle, rank_customers
from rapport_profile.domain.summary import summarize
from rapport_profile.store import fold as store
from rapport_profile.store import outbox, privacy, ranking
from rapport_profile.store.state_cache import ProfileCache

log = get_logger(__name__)

FOLDED = Counter("rapport_profile_events_total", "events met by the fold", ["outcome"])
RETRYABLE = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)
CONTEXT_KEPT = ("source", "store_id", "agent_id", "campaign_id", "country", "region", "locale")


class ErasedWhileFolding(Exception):
    """A profile of this batch was erased under us: fold the batch again from the top."""


@dataclass
class FoldResult:
    received: int = 0
    folded: int = 0
    duplicates: int = 0
    erased: int = 0  # skipped: an identifier was erased (tombstoned) after the event
    changes: list[ProfileChange] = field(default_factory=list)
    # The changes as written to the outbox: published as they are, not encoded again.
    payloads: list[bytes] = field(default_factory=list, repr=False)
    # The outbox rows of this batch (to publish and delete after the commit).
    batch_id: uuid.UUID = field(default_factory=uuid.uuid4)
    # The profiles as this batch left them (for the cache, once committed).
    profiles: list[ProfileState] = field(default_factory=list, repr=False)


def _lock_key(hashed: str) -> int:
    """A signed 64-bit advisory-lock key from an identifier hash."""
    key = int(hashed[:16], 16)
    return key - (1 << 64) if key >= 1 << 63 else key


KINDS = tuple(kind.value for kind in IdentityKind)  # strongest first


def _pairs(event: TouchpointEvent) -> list[Identifier]:
    """The event's identifiers (a plain loop: `Identity.pairs` iterates the enum, too slow for
    the hot path)."""
    identity = event.identity
    return [(kind, value) for kind in KINDS if (value := getattr(identity, kind)) is not None]


def _amount(event: TouchpointEvent) -> Decimal | None:
    props: Any = event.properties
    if event.type in ("order_completed", "store_purchase"):
        return Decimal(props.total)
    if event.type == "product_returned":
        return -Decimal(props.refund)
    return None


def _details(event: TouchpointEvent) -> str:
    """The properties as JSON (the contract's own serialiser, straight to bytes) and the
    context fields kept, spliced in: no intermediate dicts on the hot path."""
    props = event.properties
    details: bytes = props.__pydantic_serializer__.to_json(props, exclude_none=True)
    given = event.context
    context = {name: value for name in CONTEXT_KEPT if (value := getattr(given, name)) is not None}
    if context:
        comma = b"," if len(details) > 2 else b""  # "{}": nothing to follow
        details = details[:-1] + comma + b'"context":' + orjson.dumps(context) + b"}"
    return details.decode()


async def fold_events(
    db: Database,
    events: Sequence[TouchpointEvent],
    *,
    attempts: int = 8,
    cache: ProfileCache | None = None,
) -> FoldResult:
    """Fold a batch in one transaction, idempotent by event id; retried on lock conflicts.
    With a `cache`, profiles folded recently are not decoded again (see store/state_cache)."""
    for attempt in range(attempts):
        try:
            async with db.transaction() as conn:
                result = await _fold(conn, events, cache)
            if cache is not None:  # committed: what it folded is the profiles' state now
                cache.keep(result.profiles)
            return result
        except (*RETRYABLE, ErasedWhileFolding) as error:
            if attempt == attempts - 1:
                raise
            log.warning("fold_retry", error=type(error).__name__, attempt=attempt)
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def _fold(  # noqa: PLR0912, PLR0915
    conn: AsyncConnection, batch: Sequence[TouchpointEvent], cache: ProfileCache | None
) -> FoldResult:
    db = await store.driver(conn)
    now = datetime.now(UTC)
    result = FoldResult(received=len(batch))
    unique = list({event.event_id: event for event in reversed(batch)}.values())[::-1]
    ids = [str(event.event_id) for event in unique]
    claimed = await store.claim_events(db, ids)
    fresh = [event for event, id_ in zip(unique, ids, strict=True) if id_ in claimed]
    result.duplicates = len(batch) - len(fresh)

    fresh_pairs = [_pairs(event) for event in fresh]
    hashes = {pair: identifier_hash(*pair) for pairs in fresh_pairs for pair in pairs}
    erased = await store.tombstoned(db, hashes.values())
    events: list[TouchpointEvent] = []
    pairs: list[list[Identifier]] = []
    for event, identifiers in zip(fresh, fresh_pairs, strict=True):
        erased_at = [erased[h] for pair in identifiers if (h := hashes[pair]) in erased]
        if erased_at and event.effective_time <= max(erased_at):
            result.erased += 1
        else:
            events.append(event)
            pairs.append(identifiers)
    FOLDED.labels("duplicate").inc(result.duplicates)
    FOLDED.labels("erased").inc(result.erased)
    if not events:
        return result

    first_seen: dict[Identifier, datetime] = {}
    for event, identifiers in zip(events, pairs, strict=True):
        for pair in identifiers:
            seen = first_seen.get(pair)
            first_seen[pair] = (
                event.effective_time if seen is None else min(seen, event.effective_time)
            )
    await store.lock_identifiers(db, [_lock_key(hashes[pair]) for pair in first_seen])
    owner = await store.owners(db, list(first_seen))

    # Lock every profile involved; a merge that committed since we read the identities shows
    # as merged_into on the locked row: follow it and lock the survivor too.
    locked: dict[uuid.UUID, asyncpg.Record] = {}
    while True:
        wanted = set(owner.values()) - set(locked)
        if not wanted:
            break
        rows = await store.lock_profiles(db, wanted, cache.stamps(wanted) if cache else None)
        if len(rows) < len(wanted):
            raise ErasedWhileFolding
        redirect = {row["profile_id"]: row["merged_into"] for row in rows if row["merged_into"]}
        locked.update({row["profile_id"]: row for row in rows if not row["merged_into"]})
        owner = {pair: redirect.get(profile_id, profile_id) for pair, profile_id in owner.items()}

    loaded = await _load(db, locked, cache)
    customers = group_customers(
        pairs, owner, {profile_id: row["created_at"] for profile_id, row in locked.items()}
    )
    states: list[ProfileState] = []
    why: dict[uuid.UUID, str] = {}
    merges: dict[uuid.UUID, uuid.UUID] = {}
    new_identities: list[tuple[str, str, uuid.UUID, datetime]] = []
    interactions: list[store.InteractionRow] = []
    merged_survivors: dict[uuid.UUID, list[uuid.UUID]] = {}
    for customer in customers:
        if customer.survivor is None:
            state = ProfileState(new_profile_id(customer.identifiers), created_at=now)
            before = NOTHING_KNOWN
        else:
            state = loaded[customer.survivor]
            before = state.key_fields()
            for merged_id in customer.merged:
                state = merge_profiles(state, loaded[merged_id])
                merges[merged_id] = state.profile_id
            if customer.merged:
                merged_survivors[state.profile_id] = customer.merged
        mine = sorted((events[i] for i in customer.events), key=lambda e: e.effective_time)
        for event in mine:
            apply_event(state, event)
            interactions.append(
                (
                    state.profile_id,
                    event.effective_time,
                    event.event_id,
                    str(event.channel),
                    event.type,
                    summarize(event),
                    _details(event),
                    _amount(event),
                )
            )
        stage = lifecycle(
            orders=state.orders,
            first_order_at=state.first_order_at,
            last_order_at=state.last_order_at,
            previous_order_at=state.previous_order_at,
            now=now,
        )
        state.lifecycle_stage, why[state.profile_id] = stage.stage, stage.why
        state.version = next_version(state.version, now)
        states.append(state)
        attached = sorted(i for i in customer.identifiers if owner.get(i) != state.profile_id)
        new_identities.extend((*pair, state.profile_id, first_seen[pair]) for pair in attached)
        if attached:
            result.changes.append(
                Identified.model_construct(  # built from trusted values: no validation
                    profile_id=state.profile_id,
                    changed_at=now,
                    version=state.version,
                    identifier_hashes=[hashes[pair] for pair in attached],
                )
            )
        if (changed := card_changed(state, before, now)) is not None:
            result.changes.append(changed)

    if merges:
        await store.merge_away(db, merges)
    await store.save_profiles(db, states, why, existing=set(locked))
    await store.add_identities(db, new_identities)
    await store.add_interactions(db, interactions)
    if merged_survivors:
        owned = await store.identifiers_of(db, merged_survivors)
        versions = {state.profile_id: state.version for state in states}
        for survivor, merged_ids in merged_survivors.items():
            result.changes.append(
                Merged.model_construct(
                    profile_id=survivor,
                    changed_at=now,
                    version=versions[survivor],
                    merged_ids=merged_ids,
                    identifier_hashes=sorted(identifier_hash(*pair) for pair in owned[survivor]),
                )
            )
    result.payloads = await _to_outbox(db, result.batch_id, result.changes)
    result.folded = len(events)
    result.profiles = states
    FOLDED.labels("folded").inc(result.folded)
    return result


async def _load(
    db: asyncpg.Connection, locked: dict[uuid.UUID, asyncpg.Record], cache: ProfileCache | None
) -> dict[uuid.UUID, ProfileState]:
    """The states of the locked profiles: from the cache where the row says it is current
    (its `state` came back NULL), else decoded from the row."""
    loaded: dict[uuid.UUID, ProfileState] = {}
    gone: list[uuid.UUID] = []
    for profile_id, row in locked.items():
        if row["state"] is not None:
            loaded[profile_id] = store.load(row)
            if cache is not None:
                cache.forget([profile_id])
            continue
        held = cache.take(profile_id, (row["version"], row["created_at"])) if cache else None
        if held is None:
            gone.append(profile_id)  # a concurrent fold in this process had it, then failed
        else:
            loaded[profile_id] = store.load(row, held)
    if gone:
        documents = await store.profile_documents(db, gone)
        for profile_id in gone:
            loaded[profile_id] = store.load({**locked[profile_id], "state": documents[profile_id]})
    return loaded


async def _to_outbox(
    db: asyncpg.Connection, batch_id: uuid.UUID, changes: Sequence[ProfileChange]
) -> list[bytes]:
    """Write the changes into the outbox; returns them encoded (what to publish)."""
    payloads = [encode_change(change) for change in changes]
    await outbox.add(
        db,
        [(batch_id, c.profile_id, payload) for c, payload in zip(changes, payloads, strict=True)],
    )
    return payloads


async def publish_changes(
    db: Database,
    publisher: Publisher,
    topic: str,
    batch_id: uuid.UUID,
    changes: Sequence[ProfileChange],
    payloads: Sequence[bytes] | None = None,
) -> bool:
    """Publish a committed batch's changes and clear its outbox rows. On a broker failure the
    rows stay for `drain_outbox`: the caller goes on (the changes are safe, only later)."""
    if not changes:
        return True
    if payloads is None:
        payloads = [encode_change(change) for change in changes]
    records = [
        (str(c.profile_id).encode(), payload, ())
        for c, payload in zip(changes, payloads, strict=True)
    ]
    try:
        await publisher.publish_many(topic, records)
    except Exception as error:
        log.warning("profile_changes_deferred", error=type(error).__name__, count=len(records))
        return False
    async with db.transaction() as conn:
        await outbox.forget_batch(await store.driver(conn), batch_id)
    return True


async def drain_outbox(
    db: Database, publisher: Publisher, topic: str, *, older_than_s: float = 0, chunk: int = 2000
) -> int:
    """Publish what earlier transactions left in the outbox, oldest first; returns how many.

    `older_than_s` leaves alone the rows a fold has just committed and is publishing itself.
    Raises if the broker fails: the rows stay for the next drain.
    """
    published = 0
    while True:
        async with db.transaction() as conn:
            raw = await store.driver(conn)
            rows = await outbox.claim_leftovers(raw, older_than_s=older_than_s, limit=chunk)
            if not rows:
                return published
            await publisher.publish_many(
                topic, [(str(row["profile_id"]).encode(), row["payload"], ()) for row in rows]
            )
            await outbox.delete(raw, [row["id"] for row in rows])
        published += len(rows)
        log.info("profile_outbox_drained", count=len(rows))


async def fold_and_publish(
    db: Database,
    publisher: Publisher,
    topic: str,
    events: Sequence[TouchpointEvent],
    *,
    cache: ProfileCache | None = None,
) -> FoldResult:
    result = await fold_events(db, events, cache=cache)
    await publish_changes(db, publisher, topic, result.batch_id, result.changes, result.payloads)
    return result


@dataclass(frozen=True)
class Erasure:
    profile_id: uuid.UUID
    erased_at: datetime
    merged_ids: list[uuid.UUID]
    identifier_hashes: list[str]


async def erase_customer(
    db: Database,
    publisher: Publisher,
    topic: str,
    profile_id: uuid.UUID,
    *,
    cache: ProfileCache | None = None,
) -> Erasure | None:
    """Erase a customer (any of its ids) from the store; None if the id is unknown. The
    erased profiles leave this process's profile `cache` too (other instances find out by
    `revalidate_cache`)."""
    now = datetime.now(UTC)
    batch_id = uuid.uuid4()
    async with db.transaction() as conn:
        raw = await store.driver(conn)
        erasure = await privacy.erase(raw, profile_id, now)
        if erasure is None:
            return None
        survivor, merged_ids, identifiers = erasure
        hashes = sorted(identifier_hash(*pair) for pair in identifiers)
        erased = Erased(
            profile_id=survivor, changed_at=now, merged_ids=merged_ids, identifier_hashes=hashes
        )
        await _to_outbox(raw, batch_id, [erased])
    if cache is not None:
        cache.drop([survivor, *merged_ids])
    await publish_changes(db, publisher, topic, batch_id, [erased])
    log.info("customer_erased", profile_id=str(survivor), identifiers=len(hashes))
    return Erasure(survivor, now, merged_ids, hashes)


async def revalidate_cache(db: Database, cache: ProfileCache) -> int:
    """Drop the cache entries whose profile was erased, merged away or folded elsewhere since
    (an erasure or merge by another instance); returns how many were dropped."""
    held = cache.held()
    if not held:
        return 0
    async with db.reader() as conn:
        outdated = await store.outdated(conn, held)
    cache.drop(outdated)
    return len(outdated)


@dataclass(frozen=True)
class RefreshResult:
    customers: int
    updated: int
    changes: int


async def refresh_scores(
    db: Database, publisher: Publisher, topic: str, *, now: datetime | None = None
) -> RefreshResult:
    """Recompute tiers, RFM scores and lifecycle stages against the whole base."""
    now = now or datetime.now(UTC)
    batch_id = uuid.uuid4()
    async with db.transaction() as conn:
        db_conn = await store.driver(conn)
        standings, current = await ranking.standings(db_conn, now - timedelta(days=WINDOW_DAYS))
        ranks = rank_customers(standings, now)
        updates = []
        for profile_id, rank in ranks.items():
            row = current[profile_id]
            stage = lifecycle(
                orders=row.orders,
                first_order_at=row.first_order_at,
                last_order_at=row.last_order_at,
                previous_order_at=row.previous_order_at,
                now=now,
            )
            figures = (rank.value_tier, rank.recency, rank.frequency, rank.monetary, stage.stage)
            if figures != row.figures:
                updates.append((profile_id, row.version, *figures, stage.why))
        rows = await ranking.save_ranks(db_conn, updates, now, next_version(0, now))
        changes: list[ProfileChange] = []
        for record in rows:
            state = store.load(record)
            previous = current[state.profile_id]
            before = state.key_fields()
            before = type(before)(
                previous.figures[0],
                previous.figures[4],
                before.marketing_consent,
                before.open_complaints,
                before.country,
            )
            if (changed := card_changed(state, before, now)) is not None:
                changes.append(changed)
        await _to_outbox(db_conn, batch_id, changes)
    await publish_changes(db, publisher, topic, batch_id, changes)
    return RefreshResult(len(standings), len(rows), len(changes))
