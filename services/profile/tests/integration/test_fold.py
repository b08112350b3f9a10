"""The fold against a real PostgreSQL: dedupe, merges (also concurrent), erasure and replay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_events.kafka import Publisher
from rapport_profile.handlers import erase_customer, fold_events
from rapport_profile.store import queries
from support.fixtures import database_settings

pytestmark = pytest.mark.integration


def _purchase(make_event: Any, who: dict[str, str], total: float, **kw: Any) -> TouchpointEvent:
    event: TouchpointEvent = make_event(
        "order_completed",
        who,
        {
            "order_id": uuid.uuid4().hex,
            "items": [{"sku": "A", "quantity": 1, "price": total}],
            "total": total,
            "currency": "GBP",
        },
        **kw,
    )
    return event


async def _profile_of(db: Database, kind: str, value: str) -> dict[str, Any]:
    async with db.connection() as conn:
        pid = await queries.lookup(conn, kind, value)
        assert pid is not None, f"no profile for {kind}"
        row = await queries.profile(conn, pid)
        assert row is not None
        row["timeline"] = await queries.timeline(conn, pid, limit=None)
        return row


async def test_redelivered_and_reposted_events_count_once(
    profile_db: Database, make_event: Any
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    order = _purchase(make_event, {"email": email}, 42.5)
    first = await fold_events(profile_db, [order, order])
    again = await fold_events(profile_db, [order])
    assert (first.folded, first.duplicates, again.folded, again.duplicates) == (1, 1, 0, 1)
    profile = await _profile_of(profile_db, "email", email)
    assert profile["orders"] == 1
    assert float(profile["revenue"]) == 42.5
    assert [item["event_id"] for item in profile["timeline"]] == [order.event_id]


async def test_a_linking_event_merges_two_profiles_into_the_oldest(
    profile_db: Database, make_event: Any
) -> None:
    anon, email = uuid.uuid4().hex, f"{uuid.uuid4().hex}@example.com"
    t0 = datetime.now(UTC) - timedelta(days=1)
    await fold_events(
        profile_db, [make_event("page_viewed", {"email": email}, {"url": "/a"}, at=t0)]
    )
    await fold_events(profile_db, [_purchase(make_event, {"anonymous_id": anon}, 10, at=t0)])
    older = (await _profile_of(profile_db, "email", email))["profile_id"]
    younger = (await _profile_of(profile_db, "anonymous_id", anon))["profile_id"]
    assert older != younger
    result = await fold_events(
        profile_db,
        [make_event("signed_up", {"email": email, "anonymous_id": anon}, {}, at=t0 + timedelta(1))],
    )
    kinds = [change.kind for change in result.changes]
    assert "merged" in kinds
    survivor = await _profile_of(profile_db, "anonymous_id", anon)
    assert survivor["profile_id"] == older
    assert survivor["orders"] == 1
    assert len(survivor["timeline"]) == 3
    async with profile_db.connection() as conn:
        assert await queries.resolve(conn, younger) == (older, None)


async def test_two_concurrent_folds_merging_the_same_customers_agree(
    databases: Any, make_event: Any
) -> None:
    """Two consumer instances fold crossing links at the same time: one survivor per
    customer, every event kept, nothing counted twice."""
    first, second = (Database(database_settings(databases.profile)) for _ in range(2))
    try:
        customers = [uuid.uuid4().hex for _ in range(40)]
        seed_a, seed_b, links_a, links_b = [], [], [], []
        for i, c in enumerate(customers):
            ids = {"anonymous_id": f"anon-{c}", "email": f"{c}@example.com", "loyalty_id": f"L-{c}"}
            seed_a.append(_purchase(make_event, {"anonymous_id": ids["anonymous_id"]}, 10))
            seed_b.append(_purchase(make_event, {"loyalty_id": ids["loyalty_id"]}, 20))
            link1 = make_event(
                "signed_up", {"anonymous_id": ids["anonymous_id"], "email": ids["email"]}, {}
            )
            link2 = make_event(
                "identify", {"email": ids["email"], "loyalty_id": ids["loyalty_id"]}, {}
            )
            (links_a if i % 2 else links_b).append(link1)
            (links_b if i % 2 else links_a).append(link2)
        await asyncio.gather(fold_events(first, seed_a), fold_events(second, seed_b))
        results = await asyncio.gather(fold_events(first, links_a), fold_events(second, links_b))
        assert sum(r.folded for r in results) == 80
        for c in customers:
            one = await _profile_of(first, "anonymous_id", f"anon-{c}")
            for kind, value in (("email", f"{c}@example.com"), ("loyalty_id", f"L-{c}")):
                assert (await _profile_of(first, kind, value))["profile_id"] == one["profile_id"]
            assert one["orders"] == 2
            assert float(one["revenue"]) == 30
            assert len(one["timeline"]) == 4
            assert one["merged_into"] is None
    finally:
        await first.dispose()
        await second.dispose()


async def test_erased_customers_stay_erased_when_the_stream_is_replayed(
    fresh_db: Database, publisher: Publisher, kafka_settings: Any, make_event: Any
) -> None:
    email, loyalty = f"{uuid.uuid4().hex}@example.com", uuid.uuid4().hex
    history = [
        _purchase(make_event, {"email": email}, 10, at=datetime.now(UTC) - timedelta(hours=2)),
        make_event(
            "identify", {"email": email, "loyalty_id": loyalty}, {"traits": {"first_name": "Ada"}}
        ),
    ]
    await fold_events(fresh_db, history)
    pid = (await _profile_of(fresh_db, "email", email))["profile_id"]
    erasure = await erase_customer(fresh_db, publisher, kafka_settings.topics.profile_changes, pid)
    assert erasure is not None
    assert len(erasure.identifier_hashes) == 2
    async with fresh_db.transaction() as conn:  # what a replay does before refolding
        await conn.execute(text("TRUNCATE profiles, identities, processed_events, interactions"))
    replayed = await fold_events(fresh_db, history)
    assert (replayed.folded, replayed.erased) == (0, 2)
    async with fresh_db.connection() as conn:
        assert await queries.lookup(conn, "email", email) is None
        assert await queries.lookup(conn, "loyalty_id", loyalty) is None
        survivor, erased_at = await queries.resolve(conn, pid)
        assert survivor is None
        assert erased_at is not None
        count = (await conn.execute(text("SELECT count(*) FROM interactions"))).scalar_one()
        assert count == 0
    # The person comes back after the erasure: a new profile, not the old history.
    back = await fold_events(fresh_db, [make_event("signed_up", {"email": email}, {})])
    assert back.folded == 1
    again = await _profile_of(fresh_db, "email", email)
    assert again["orders"] == 0
    assert len(again["timeline"]) == 1
