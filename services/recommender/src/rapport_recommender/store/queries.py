"""Reads and writes of the recommender store, inside the caller's unit of work.

Writes are set-based: one statement per table per batch, rows aggregated per key beforehand
(PostgreSQL refuses to upsert one row twice in a statement) and sorted so that concurrent
transactions lock rows in the same order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache, partial
from typing import Any

import asyncpg
from sqlalchemy import (
    JSON,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from rapport_events.codec import encode_json
from rapport_recommender.domain.fold import CustomerDelta, ItemDelta, ItemStats
from rapport_recommender.store.tables import (
    aliases,
    arms,
    best_offers,
    cards,
    carts,
    complaints,
    consents,
    contacts,
    customer_items,
    customers,
    erased_profiles,
    item_countries,
    items,
    processed_events,
    profile_links,
    ranked_offers,
    tombstones,
)

Row = dict[str, Any]
ITEM_DELTA_FIELDS = tuple(f.name for f in fields(ItemDelta))
ITEM_STATS_FIELDS = tuple(f.name for f in fields(ItemStats))
CUSTOMER_DELTA_FIELDS = tuple(f.name for f in fields(CustomerDelta))


def _among(key: Any) -> Any:
    """`key IN (:among)` with the values as one JSON array (`_listed`): an IN of thousands of
    bound values (a batch's subjects, its changes' profile ids) cost SQLAlchemy a rendered
    parameter and the driver an encoded one each, and a new prepared statement for every
    count. Statements with it are built once: composing one cost more Python per call than
    PostgreSQL took to run it."""
    elements = func.json_array_elements_text(
        cast(bindparam("among", type_=Text), JSON)
    ).table_valued("value")
    return key.in_(select(cast(elements.c.value, key.type)))


def _listed(values: Iterable[Any]) -> dict[str, str]:
    # str(): ids read back from the driver are its own UUID class, which orjson refuses
    return {"among": encode_json([str(v) for v in values]).decode()}


def _sorted(rows: Iterable[Row], *keys: str) -> list[Row]:
    return sorted(rows, key=lambda row: tuple(row[key] for key in keys))


@cache
def _insert_rows(table: Table, names: tuple[str, ...]) -> Any:
    """`INSERT … SELECT … FROM json_to_recordset(:rows)`, the rows (dicts with these keys,
    `_rows`) as one JSON string, however many (a multi-row VALUES of 100k rows costs seconds
    just to compile, and array parameters cost the driver a Python type check per element —
    most of a batch's CPU); orjson encodes it in C and PostgreSQL types it by the column
    definitions (a JSON array becomes an array column). Built once per table and columns, as
    the statements on it (`@cache`): composing an upsert and its cache key cost ~0.4 ms of
    Python per call, more than PostgreSQL took to run a small one."""
    records = (
        func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON))
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(with_types=True)
    )
    return insert(table).from_select(names, select(*(records.c[name] for name in names)))


def _fields(delta: Any, names: Sequence[str]) -> Row:
    return {name: getattr(delta, name) for name in names}


def _rows(rows: Sequence[Row]) -> dict[str, str]:
    return {"rows": encode_json(rows).decode()}


async def _write_rows(
    conn: AsyncConnection, statement_for: Callable[[tuple[str, ...]], Any], rows: Sequence[Row]
) -> None:
    """Rows (dicts with the same keys) through the statement built once for their columns."""
    if rows:
        await conn.execute(statement_for(tuple(rows[0])), _rows(rows))


def _event_key(event_id: uuid.UUID) -> int:
    """An event's advisory lock key: the first 8 bytes of its id (a collision only makes two
    events wait for each other, or one left to the other lane)."""
    return int.from_bytes(event_id.bytes[:8], "big", signed=True)


_HOLD_EVENTS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
_TRY_HOLD_EVENTS = text(
    "SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k WHERE pg_try_advisory_xact_lock(k)"
)


async def hold_events(conn: AsyncConnection, event_ids: Sequence[uuid.UUID]) -> None:
    """Hold these events for this transaction, waiting for another that holds one (in key
    order: two folds holding some of the same cannot deadlock)."""
    keys = sorted({_event_key(e) for e in event_ids})
    await conn.execute(_HOLD_EVENTS, {"keys": keys})


async def try_hold_events(conn: AsyncConnection, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Hold for this transaction those of these events no other transaction holds, without
    waiting; return them."""
    keys = {e: _event_key(e) for e in event_ids}
    result = await conn.execute(_TRY_HOLD_EVENTS, {"keys": sorted(set(keys.values()))})
    held = set(result.scalars())
    return {e for e, key in keys.items() if key in held}


_NEW_EVENT_IDS = (
    _insert_rows(processed_events, ("event_id",))
    .on_conflict_do_nothing()
    .returning(processed_events.c.event_id)
)


async def new_event_ids(conn: AsyncConnection, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Mark the batch processed; return the ids not seen before (the ones to fold)."""
    if not event_ids:
        return set()
    rows = [{"event_id": event_id} for event_id in sorted(set(event_ids))]
    result = await conn.execute(_NEW_EVENT_IDS, _rows(rows))
    return {row.event_id for row in result}


_TOMBSTONED = select(tombstones.c.identifier_hash).where(_among(tombstones.c.identifier_hash))


async def tombstoned(conn: AsyncConnection, hashes: Iterable[str]) -> set[str]:
    wanted = sorted(set(hashes))
    if not wanted:
        return set()
    return set((await conn.execute(_TOMBSTONED, _listed(wanted))).scalars())


# What pairing needs of a customer's past, not all of it (a wholesaler has thousands of
# items): the items of the batch they already had (are they new to them?), and their
# `window` most recent bought and viewed ones (what new items pair with).
_HISTORIES = text(
    """
    WITH touched AS (
        SELECT * FROM json_to_recordset(CAST(:touched AS json)) AS t(subject text, sku text)
    ), who AS (
        SELECT DISTINCT subject FROM touched
    )
    SELECT c.subject, c.sku, c.last_bought_at, c.last_viewed_at
    FROM customer_items c JOIN touched t ON t.subject = c.subject AND t.sku = c.sku
    UNION
    SELECT who.subject, r.sku, r.last_bought_at, r.last_viewed_at FROM who, LATERAL (
        SELECT sku, last_bought_at, last_viewed_at FROM customer_items c
        WHERE c.subject = who.subject AND c.last_bought_at IS NOT NULL
        ORDER BY c.last_bought_at DESC LIMIT :window
    ) AS r
    UNION
    SELECT who.subject, r.sku, r.last_bought_at, r.last_viewed_at FROM who, LATERAL (
        SELECT sku, last_bought_at, last_viewed_at FROM customer_items c
        WHERE c.subject = who.subject AND c.last_viewed_at IS NOT NULL
        ORDER BY c.last_viewed_at DESC LIMIT :window
    ) AS r
    """
)


async def item_histories(
    conn: AsyncConnection, touched: Iterable[tuple[str, str]], window: int
) -> dict[str, list[tuple[str, datetime | None, datetime | None]]]:
    """(sku, last bought, last viewed) per subject, for pairing new items with old ones: of
    the (subject, sku) the batch touched, those already held, and each subject's `window`
    most recent bought and viewed items — all that `fold_batch` reads of the past."""
    wanted = sorted(set(touched))
    found: dict[str, list[tuple[str, datetime | None, datetime | None]]] = {}
    if not wanted:
        return found
    rows = await conn.execute(
        _HISTORIES,
        {
            "touched": encode_json([{"subject": s, "sku": k} for s, k in wanted]).decode(),
            "window": window,
        },
    )
    for subject, sku, bought, viewed in rows:
        found.setdefault(subject, []).append((sku, bought, viewed))
    return found


async def upsert_customer_items(
    conn: AsyncConnection, deltas: Mapping[tuple[str, str], ItemDelta]
) -> None:
    rows = [
        {"subject": subject, "sku": sku, **_fields(deltas[subject, sku], ITEM_DELTA_FIELDS)}
        for subject, sku in sorted(deltas)
    ]
    await _write_rows(conn, _customer_items_upsert, rows)


@cache
def _customer_items_upsert(names: tuple[str, ...]) -> Any:
    stmt = _insert_rows(customer_items, names)
    new = stmt.excluded
    old = customer_items.c
    return stmt.on_conflict_do_update(
        index_elements=[old.subject, old.sku],
        set_={
            "last_bought_at": func.greatest(old.last_bought_at, new.last_bought_at),
            "units": old.units + new.units,
            "orders": old.orders + new.orders,
            "last_viewed_at": func.greatest(old.last_viewed_at, new.last_viewed_at),
            "returned_at": func.greatest(old.returned_at, new.returned_at),
            "declines": old.declines + new.declines,
            "last_declined_at": func.greatest(old.last_declined_at, new.last_declined_at),
        },
    )


async def upsert_customers(conn: AsyncConnection, deltas: Mapping[str, CustomerDelta]) -> None:
    rows = [
        {"subject": subject, **_fields(deltas[subject], CUSTOMER_DELTA_FIELDS)}
        for subject in sorted(deltas)
    ]
    await _write_rows(conn, _customers_upsert, rows)


@cache
def _customers_upsert(names: tuple[str, ...]) -> Any:
    stmt = _insert_rows(customers, names)
    new, old = stmt.excluded, customers.c
    return stmt.on_conflict_do_update(
        index_elements=[old.subject],
        set_={
            "last_seen_at": func.greatest(old.last_seen_at, new.last_seen_at),
            "last_order_at": func.greatest(old.last_order_at, new.last_order_at),
            # The newer sighting's country, whatever the order the events are folded in
            # (the express lane folds complaints and consents ahead of the stream).
            "country": case(
                (new.last_seen_at >= old.last_seen_at, func.coalesce(new.country, old.country)),
                else_=func.coalesce(old.country, new.country),
            ),
        },
    )


@cache
def _newer_wins(table: Table, clock: str, names: tuple[str, ...]) -> Any:
    """Upsert rows by the table's primary key, a row replacing the held one only when its
    `clock` column is not older: late or replayed rows change nothing."""
    stmt = _insert_rows(table, names)
    key = table.primary_key.columns
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: stmt.excluded[name] for name in names if name not in key},
        where=stmt.excluded[clock] >= table.c[clock],
    )


async def upsert_carts(conn: AsyncConnection, rows: Iterable[Row]) -> None:
    """The latest cart wins (late or replayed older carts do not overwrite a newer one)."""
    await _write_rows(conn, partial(_newer_wins, carts, "updated_at"), _sorted(rows, "subject"))


async def upsert_complaints(conn: AsyncConnection, rows: Iterable[Row]) -> None:
    await _write_rows(conn, _complaints_upsert, _sorted(rows, "subject", "case_id"))


@cache
def _complaints_upsert(names: tuple[str, ...]) -> Any:
    stmt = _insert_rows(complaints, names)
    new, old = stmt.excluded, complaints.c
    return stmt.on_conflict_do_update(
        index_elements=[old.subject, old.case_id],
        set_={
            "opened_at": func.coalesce(old.opened_at, new.opened_at),
            "resolved_at": func.greatest(old.resolved_at, new.resolved_at),
        },
    )


async def upsert_consents(conn: AsyncConnection, rows: Iterable[Row]) -> None:
    """The latest change per channel wins, whatever the order they are folded in."""
    newer = partial(_newer_wins, consents, "at")
    await _write_rows(conn, newer, _sorted(rows, "subject", "channel"))


async def insert_contacts(conn: AsyncConnection, rows: Iterable[Row]) -> None:
    await _write_rows(conn, _contacts_insert, _sorted(rows, "event_id"))


@cache
def _contacts_insert(names: tuple[str, ...]) -> Any:
    return _insert_rows(contacts, names).on_conflict_do_nothing()


async def add_item_stats(conn: AsyncConnection, stats: Mapping[str, ItemStats]) -> None:
    rows = [{"sku": sku, **_fields(stats[sku], ITEM_STATS_FIELDS)} for sku in sorted(stats)]
    await _write_rows(conn, _items_upsert, rows)


@cache
def _items_upsert(names: tuple[str, ...]) -> Any:
    stmt = _insert_rows(items, names)
    new, old = stmt.excluded, items.c
    return stmt.on_conflict_do_update(
        index_elements=[old.sku],
        set_={
            "name": func.coalesce(new.name, old.name),
            "buyers": old.buyers + new.buyers,
            "viewers": old.viewers + new.viewers,
            "units": old.units + new.units,
            "orders": old.orders + new.orders,
            "trend": old.trend + new.trend,
        },
    )


_COUNTRY_UNITS = _insert_rows(item_countries, ("country", "sku", "units"))
_COUNTRY_UNITS_ADD = _COUNTRY_UNITS.on_conflict_do_update(
    index_elements=[item_countries.c.country, item_countries.c.sku],
    set_={"units": item_countries.c.units + _COUNTRY_UNITS.excluded.units},
)


async def add_country_units(conn: AsyncConnection, units: Mapping[tuple[str, str], int]) -> None:
    if not units:
        return
    keys = sorted(units)
    rows = [{"country": country, "sku": sku, "units": units[country, sku]} for country, sku in keys]
    await conn.execute(_COUNTRY_UNITS_ADD, _rows(rows))


async def add_arm_answers(conn: AsyncConnection, rows: Iterable[Row]) -> None:
    values = _sorted(rows, "kind", "segment")
    if not values:
        return
    stmt = insert(arms).values(values)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[arms.c.kind, arms.c.segment],
            # The inserted row already holds prior + answers; an existing one adds answers.
            set_={
                "alpha": arms.c.alpha + stmt.excluded.alpha - 1.0,
                "beta": arms.c.beta + stmt.excluded.beta - 1.0,
            },
        )
    )


# --- identity ----------------------------------------------------------------------------------


_PROFILES_OF_SUBJECTS = (
    select(
        aliases.c.identifier_hash,
        func.coalesce(profile_links.c.survivor_id, aliases.c.profile_id).label("profile_id"),
    )
    .select_from(
        aliases.outerjoin(profile_links, profile_links.c.profile_id == aliases.c.profile_id)
    )
    .where(_among(aliases.c.identifier_hash))
)


async def profiles_of_subjects(
    conn: AsyncConnection, subjects: Iterable[str]
) -> dict[str, uuid.UUID]:
    """subject → its surviving profile id, for the subjects the profile service has named."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    rows = await conn.execute(_PROFILES_OF_SUBJECTS, _listed(wanted))
    return {row.identifier_hash: row.profile_id for row in rows}


_COUNTRIES_OF = select(customers.c.subject, customers.c.country).where(_among(customers.c.subject))


async def countries_of(conn: AsyncConnection, subjects: Iterable[str]) -> dict[str, str | None]:
    """subject → its country on record (None: none yet), for the subjects that have a row."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    rows = await conn.execute(_COUNTRIES_OF, _listed(wanted))
    return {row.subject: row.country for row in rows}


_SURVIVORS_OF = select(profile_links.c.profile_id, profile_links.c.survivor_id).where(
    _among(profile_links.c.profile_id)
)


async def survivors_of(
    conn: AsyncConnection, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each id's survivor (itself unless merged away)."""
    wanted = sorted(set(profile_ids))
    if not wanted:
        return {}
    rows = await conn.execute(_SURVIVORS_OF, _listed(wanted))
    linked = {row.profile_id: row.survivor_id for row in rows}
    return {pid: linked.get(pid, pid) for pid in wanted}


async def subjects_of(conn: AsyncConnection, profile_ids: Sequence[uuid.UUID]) -> list[str]:
    rows = await conn.execute(
        select(aliases.c.identifier_hash).where(aliases.c.profile_id.in_(profile_ids))
    )
    return sorted(rows.scalars())


_ERASED_AMONG = select(erased_profiles.c.profile_id).where(_among(erased_profiles.c.profile_id))


async def erased_among(conn: AsyncConnection, profile_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    wanted = sorted(set(profile_ids))
    if not wanted:
        return set()
    return set((await conn.execute(_ERASED_AMONG, _listed(wanted))).scalars())


async def link_identifiers(
    conn: AsyncConnection, profile_id: uuid.UUID, hashes: Iterable[str]
) -> None:
    await link_many(conn, dict.fromkeys(hashes, profile_id))


_ALIASES = _insert_rows(aliases, ("identifier_hash", "profile_id"))
_LINK = _ALIASES.on_conflict_do_update(
    index_elements=[aliases.c.identifier_hash], set_={"profile_id": _ALIASES.excluded.profile_id}
)


async def link_many(conn: AsyncConnection, links: Mapping[str, uuid.UUID]) -> None:
    """Point each identifier hash at its profile (one row per hash; sorted, one lock order)."""
    if not links:
        return
    rows = [{"identifier_hash": h, "profile_id": links[h]} for h in sorted(links)]
    await conn.execute(_LINK, _rows(rows))


async def merge_profiles(
    conn: AsyncConnection, survivor: uuid.UUID, merged: Sequence[uuid.UUID]
) -> None:
    """Point the merged ids (and whatever pointed at them) at the survivor."""
    gone = sorted(set(merged) - {survivor})
    if not gone:
        return
    await conn.execute(
        update(profile_links)
        .where(profile_links.c.survivor_id.in_(gone))
        .values(survivor_id=survivor)
    )
    stmt = insert(profile_links).values(
        [{"profile_id": pid, "survivor_id": survivor} for pid in gone]
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[profile_links.c.profile_id], set_={"survivor_id": survivor}
        )
    )
    await conn.execute(
        update(aliases).where(aliases.c.profile_id.in_(gone)).values(profile_id=survivor)
    )
    await conn.execute(delete(cards).where(cards.c.profile_id.in_(gone)))
    await conn.execute(delete(best_offers).where(best_offers.c.profile_id.in_(gone)))


async def upsert_cards(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    """Newer versions win; a redelivered or older change is a no-op. One row per profile."""
    await _write_rows(conn, partial(_newer_wins, cards, "version"), _sorted(rows, "profile_id"))


async def erase(
    conn: AsyncConnection, profile_ids: Sequence[uuid.UUID], hashes: Iterable[str]
) -> None:
    """Forget a customer: every row about their subjects and ids; tombstones stay."""
    ids = sorted(set(profile_ids))
    linked = await conn.execute(
        select(profile_links.c.profile_id).where(
            or_(profile_links.c.survivor_id.in_(ids), profile_links.c.profile_id.in_(ids))
        )
    )
    ids = sorted(set(ids) | set(linked.scalars()))
    subjects = sorted(set(hashes) | set(await subjects_of(conn, ids)))
    for table in (customer_items, customers, carts, complaints, consents, contacts):
        await conn.execute(delete(table).where(table.c.subject.in_(subjects)))
    await conn.execute(delete(aliases).where(aliases.c.identifier_hash.in_(subjects)))
    await conn.execute(delete(aliases).where(aliases.c.profile_id.in_(ids)))
    await conn.execute(
        delete(profile_links).where(
            or_(profile_links.c.profile_id.in_(ids), profile_links.c.survivor_id.in_(ids))
        )
    )
    await conn.execute(delete(cards).where(cards.c.profile_id.in_(ids)))
    await conn.execute(delete(best_offers).where(best_offers.c.profile_id.in_(ids)))
    await conn.execute(delete(ranked_offers).where(ranked_offers.c.profile_id.in_(ids)))
    if subjects:
        await conn.execute(
            insert(tombstones)
            .values([{"identifier_hash": s} for s in subjects])
            .on_conflict_do_nothing()
        )
    await conn.execute(
        insert(erased_profiles).values([{"profile_id": i} for i in ids]).on_conflict_do_nothing()
    )


# --- reading customers (set-based: one query per table for all of them) -----------------------


@dataclass(frozen=True, slots=True)
class Identities:
    """Who the requested profile ids are: survivors, merged ids, erasures, subjects."""

    survivor_of: dict[uuid.UUID, uuid.UUID]  # requested id → its survivor
    members: dict[uuid.UUID, set[uuid.UUID]]  # survivor → every id merged into it and itself
    erased: set[uuid.UUID]  # among all those ids
    subjects: dict[uuid.UUID, list[str]]  # profile id → its identifier hashes


def _identities_statement() -> Select[Any]:
    requested = select(func.unnest(bindparam("ids", type_=ARRAY(Uuid))).label("pid")).cte(
        "requested"
    )
    survivors = (
        select(
            requested.c.pid,
            func.coalesce(profile_links.c.survivor_id, requested.c.pid).label("survivor"),
        )
        .select_from(
            requested.outerjoin(profile_links, profile_links.c.profile_id == requested.c.pid)
        )
        .cte("survivors")
    )
    members = union(
        select(survivors.c.survivor, survivors.c.survivor.label("member")),
        select(profile_links.c.survivor_id, profile_links.c.profile_id).where(
            profile_links.c.survivor_id.in_(select(survivors.c.survivor))
        ),
    ).cte("members")
    return select(
        survivors.c.pid,
        survivors.c.survivor,
        members.c.member,
        erased_profiles.c.profile_id.label("erased"),
        aliases.c.identifier_hash,
    ).select_from(
        survivors.join(members, members.c.survivor == survivors.c.survivor)
        .outerjoin(erased_profiles, erased_profiles.c.profile_id == members.c.member)
        .outerjoin(aliases, aliases.c.profile_id == members.c.member)
    )


# Built once: composing a statement this size (and its cache key) cost ~0.7 ms of Python per
# call, in every ranking, more than PostgreSQL took to run it.
IDENTITIES = _identities_statement()


async def identities(conn: AsyncConnection, profile_ids: Sequence[uuid.UUID]) -> Identities:
    """Survivors, their merged ids, erasures and identifier hashes, in one query."""
    wanted = sorted(set(profile_ids))
    found = Identities({pid: pid for pid in wanted}, {}, set(), {})
    if not wanted:
        return found
    rows = await conn.execute(IDENTITIES, {"ids": wanted})
    for row in rows:
        found.survivor_of[row.pid] = row.survivor
        found.members.setdefault(row.survivor, set()).add(row.member)
        if row.erased is not None:
            found.erased.add(row.member)
        if row.identifier_hash is not None:
            subjects = found.subjects.setdefault(row.member, [])
            if row.identifier_hash not in subjects:
                subjects.append(row.identifier_hash)
    return found


CUSTOMER_TABLES = {
    "items": customer_items,
    "customers": customers,
    "carts": carts,
    "complaints": complaints,
    "consents": consents,
}


def _customer_rows_statement() -> Select[Any]:
    among = bindparam("subjects", type_=ARRAY(Text))
    per_table = []
    for name, table in CUSTOMER_TABLES.items():
        row = table.alias(f"{name}_row")
        per_table.append(
            select(func.array_agg(literal_column(row.name)))
            .where(row.c.subject == any_(among))
            .scalar_subquery()
            .label(name)
        )
    return select(*per_table)


CUSTOMER_ROWS = _customer_rows_statement()  # built once, as IDENTITIES


async def customer_rows(
    conn: AsyncConnection, subjects: Sequence[str]
) -> dict[str, dict[str, list[Row]]]:
    """Every per-customer row of these subjects: subject → table → rows.

    One statement, each table's rows as an array of records (decoded by the driver): a
    statement per table was five round trips, and on a busy machine each round trip waits
    for the CPU twice (the at-once lane, tracing one complaint's ranking at 1,000 ev/s: 20-110
    ms for these reads of a single customer)."""
    found: dict[str, dict[str, list[Row]]] = {}
    wanted = sorted(set(subjects))
    if not wanted:
        return found
    every = (await conn.execute(CUSTOMER_ROWS, {"subjects": wanted})).one()._mapping
    for name in CUSTOMER_TABLES:
        for record in every[name] or ():
            found.setdefault(record["subject"], {}).setdefault(name, []).append(dict(record))
    return found


_CONTACTS_SINCE = select(contacts.c.subject, contacts.c.channel, contacts.c.at).where(
    _among(contacts.c.subject), contacts.c.at > bindparam("since")
)


async def contacts_since(
    conn: AsyncConnection, subjects: Sequence[str], since: datetime
) -> dict[str, list[tuple[str, datetime]]]:
    """subject → (channel, at) of the offers presented since then."""
    found: dict[str, list[tuple[str, datetime]]] = {}
    wanted = sorted(set(subjects))
    if not wanted:
        return found
    rows = await conn.execute(_CONTACTS_SINCE, {**_listed(wanted), "since": since})
    for row in rows:
        found.setdefault(row.subject, []).append((row.channel, row.at))
    return found


_CARDS_OF = select(cards).where(_among(cards.c.profile_id))


async def cards_of(conn: AsyncConnection, profile_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Row]:
    wanted = sorted(set(profile_ids))
    if not wanted:
        return {}
    rows = await conn.execute(_CARDS_OF, _listed(wanted))
    return {row.profile_id: dict(row._mapping) for row in rows}


# --- the outbox --------------------------------------------------------------------------------


_BEST_SIGNATURES = select(best_offers.c.profile_id, best_offers.c.signature).where(
    best_offers.c.profile_id == any_(bindparam("ids", type_=ARRAY(Uuid)))
)


async def best_signatures(
    conn: AsyncConnection, profile_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    rows = await conn.execute(_BEST_SIGNATURES, {"ids": list(profile_ids)})
    return {row.profile_id: row.signature for row in rows}


_BEST = insert(best_offers)
_SET_BEST = _BEST.on_conflict_do_update(
    index_elements=[best_offers.c.profile_id],
    set_={
        "signature": _BEST.excluded.signature,
        "offer": _BEST.excluded.offer,
        "published": False,
        "updated_at": func.now(),
    },
)


async def set_best(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    """Record new best offers, to be published once this transaction has committed."""
    values = _sorted(rows, "profile_id")
    if not values:
        return
    await conn.execute(_SET_BEST, [{**row, "published": False} for row in values])


UNPUBLISHED = """
SELECT profile_id, offer::text AS offer, updated_at FROM best_offers
WHERE NOT published ORDER BY updated_at LIMIT $1
"""
UNPUBLISHED_AMONG = """
SELECT profile_id, offer::text AS offer, updated_at FROM best_offers
WHERE NOT published AND profile_id = ANY($2::uuid[]) ORDER BY updated_at LIMIT $1
"""


async def unpublished(
    reader: asyncpg.Connection, limit: int, among: Sequence[uuid.UUID] | None = None
) -> list[Row]:
    """The queued best offers, oldest first (of `among` only, if given), each `offer` as its
    JSON text. On a bare reader connection (`Database.reader`): one round trip, not a
    transaction's three, on the way of every changed offer to the topic."""
    if among is None:
        return [dict(row) for row in await reader.fetch(UNPUBLISHED, limit)]
    return [dict(row) for row in await reader.fetch(UNPUBLISHED_AMONG, limit, list(among))]


async def mark_published(conn: AsyncConnection, sent: Mapping[uuid.UUID, datetime]) -> None:
    """Mark what was sent, if it has not changed again since it was read (a newer one still
    waits to go), and not what another transaction holds: a ranking writing a newer offer
    queues it again, and another sender marks it itself. Waiting for either held a
    complaint's send behind a thousand-row mark of the ordinary lane's; left unmarked by a
    holder that then rolls back, a row is sent once more (offers go out at least once).

    Where a newer offer is already marked sent, this older one may have reached the topic
    after it (two senders, each reading before the other's mark): the newer one is queued
    again, so that the customer's last offer on the topic is their current one, never a sales
    offer sent after the apology that replaced it."""
    if not sent:
        return
    ids, times = zip(*sorted(sent.items()), strict=True)
    values = {"ids": list(ids), "times": list(times)}
    # The requeue may wait for a holder (rarely: a newer offer marked sent); first, so that
    # it never waits holding rows this transaction has marked.
    await conn.execute(_REQUEUE_NEWER, values)
    await conn.execute(_MARK_PUBLISHED, values)


def _sent() -> Any:
    return select(
        func.unnest(bindparam("ids", type_=ARRAY(best_offers.c.profile_id.type))).label(
            "profile_id"
        ),
        func.unnest(bindparam("times", type_=ARRAY(best_offers.c.updated_at.type))).label(
            "updated_at"
        ),
    ).subquery("was")


def _mark_published() -> Any:
    was = _sent()
    free = (
        select(best_offers.c.profile_id)
        .join(
            was,
            (best_offers.c.profile_id == was.c.profile_id)
            & (best_offers.c.updated_at == was.c.updated_at),
        )
        .order_by(best_offers.c.profile_id)
        .with_for_update(of=best_offers, skip_locked=True)
    )
    return (
        update(best_offers)
        .where(best_offers.c.profile_id.in_(free.scalar_subquery()))
        .values(published=True)
    )


def _requeue_newer() -> Any:
    was = _sent()
    return (
        update(best_offers)
        .where(
            best_offers.c.profile_id == was.c.profile_id,
            best_offers.c.updated_at != was.c.updated_at,
            best_offers.c.published,
        )
        .values(published=False)
    )


_MARK_PUBLISHED = _mark_published()
_REQUEUE_NEWER = _requeue_newer()


async def forget_contacts_before(conn: AsyncConnection, before: datetime) -> None:
    await conn.execute(delete(contacts).where(contacts.c.at < before))
