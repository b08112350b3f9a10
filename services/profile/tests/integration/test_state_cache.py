"""The consumer's in-memory profile cache never stands in for a row that moved on: another
consumer's fold, an erasure, a failed batch all turn an entry into a miss, not a wrong count."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from rapport_events.db import Database
from rapport_events.kafka import Publisher
from rapport_profile.handlers import erase_customer, fold_events, revalidate_cache
from rapport_profile.store import queries
from rapport_profile.store.state_cache import ProfileCache
from support.fixtures import database_settings

pytestmark = pytest.mark.integration


def _purchase(make_event: Any, who: dict[str, str], total: float) -> Any:
    return make_event(
        "order_completed",
        who,
        {
            "order_id": uuid.uuid4().hex,
            "items": [{"sku": "A", "quantity": 1, "price": total}],
            "total": total,
            "currency": "GBP",
        },
    )


async def _profile(db: Database, kind: str, value: str) -> dict[str, Any]:
    async with db.connection() as conn:
        profile_id = await queries.lookup(conn, kind, value)
        assert profile_id is not None
        row = await queries.profile(conn, profile_id)
        assert row is not None
        return row


async def test_two_consumers_with_their_own_caches_fold_one_customer_in_turn(
    databases: Any, make_event: Any
) -> None:
    first, second = (Database(database_settings(databases.profile)) for _ in range(2))
    caches = ProfileCache(100), ProfileCache(100)
    email = f"{uuid.uuid4().hex}@example.com"
    try:
        # Each consumer's entry goes stale whenever the other one folds the customer.
        for turn in range(6):
            db, cache = (first, caches[0]) if turn % 2 else (second, caches[1])
            await fold_events(db, [_purchase(make_event, {"email": email}, 10)], cache=cache)
        # Turns 2 to 5 each found their consumer's entry stale.
        assert (caches[0].hits + caches[1].hits, caches[0].misses + caches[1].misses) == (0, 4)
        # The last turn was the first consumer's: its next two folds use its entry.
        await fold_events(first, [_purchase(make_event, {"email": email}, 5)], cache=caches[0])
        await fold_events(first, [_purchase(make_event, {"email": email}, 5)], cache=caches[0])
        assert caches[0].hits == 2
        profile = await _profile(first, "email", email)
        assert profile["orders"] == 8
        assert float(profile["revenue"]) == 70
        assert profile["state"]["channels"] == {"web": 8}
    finally:
        await first.dispose()
        await second.dispose()


async def test_concurrent_merging_folds_with_caches_agree(databases: Any, make_event: Any) -> None:
    first, second = (Database(database_settings(databases.profile)) for _ in range(2))
    caches = ProfileCache(1000), ProfileCache(1000)
    try:
        customers = [uuid.uuid4().hex for _ in range(30)]
        seeds: tuple[list[Any], list[Any]] = ([], [])
        links: tuple[list[Any], list[Any]] = ([], [])
        for i, c in enumerate(customers):
            anon, email, loyalty = f"anon-{c}", f"{c}@example.com", f"L-{c}"
            seeds[0].append(_purchase(make_event, {"anonymous_id": anon}, 10))
            seeds[1].append(_purchase(make_event, {"loyalty_id": loyalty}, 20))
            links[i % 2].append(make_event("signed_up", {"anonymous_id": anon, "email": email}, {}))
            links[1 - i % 2].append(
                make_event("identify", {"email": email, "loyalty_id": loyalty}, {})
            )
        for batches in (seeds, links, seeds[::-1]):
            await asyncio.gather(
                fold_events(first, batches[0], cache=caches[0]),
                fold_events(second, batches[1], cache=caches[1]),
            )
        for c in customers:
            one = await _profile(first, "anonymous_id", f"anon-{c}")
            assert (await _profile(first, "loyalty_id", f"L-{c}"))["profile_id"] == one[
                "profile_id"
            ]
            assert one["orders"] == 2  # the second round of seeds was a redelivery
            assert float(one["revenue"]) == 30
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_customer_back_after_erasure_does_not_get_the_cached_state(
    fresh_db: Database, publisher: Publisher, kafka_settings: Any, make_event: Any
) -> None:
    cache = ProfileCache(100)
    email = f"{uuid.uuid4().hex}@example.com"
    await fold_events(
        fresh_db,
        [
            _purchase(make_event, {"email": email}, 10),
            make_event("identify", {"email": email}, {"traits": {"first_name": "Ada"}}),
        ],
        cache=cache,
    )
    profile_id = (await _profile(fresh_db, "email", email))["profile_id"]
    assert len(cache) == 1
    topic = kafka_settings.topics.profile_changes
    assert await erase_customer(fresh_db, publisher, topic, profile_id) is not None
    await fold_events(fresh_db, [make_event("signed_up", {"email": email}, {})], cache=cache)
    back = await _profile(fresh_db, "email", email)
    assert back["profile_id"] == profile_id  # derived from the same email
    assert back["orders"] == 0
    assert back["state"]["traits"] == {}
    assert cache.hits == 0


async def _cached_customer(db: Database, make_event: Any, cache: ProfileCache) -> uuid.UUID:
    email = f"{uuid.uuid4().hex}@example.com"
    trait = make_event("identify", {"email": email}, {"traits": {"first_name": "Ada"}})
    await fold_events(db, [_purchase(make_event, {"email": email}, 10), trait], cache=cache)
    profile_id: uuid.UUID = (await _profile(db, "email", email))["profile_id"]
    assert profile_id in cache.held()
    return profile_id


async def _two_cached_customers(
    db: Database, make_event: Any
) -> tuple[ProfileCache, uuid.UUID, uuid.UUID]:
    cache = ProfileCache(100)
    return (
        cache,
        await _cached_customer(db, make_event, cache),
        await _cached_customer(db, make_event, cache),
    )


async def test_an_erasure_in_this_process_drops_the_cached_profile_at_once(
    fresh_db: Database, publisher: Publisher, kafka_settings: Any, make_event: Any
) -> None:
    cache, profile_id, kept = await _two_cached_customers(fresh_db, make_event)
    topic = kafka_settings.topics.profile_changes
    assert await erase_customer(fresh_db, publisher, topic, profile_id, cache=cache) is not None
    assert set(cache.held()) == {kept}


async def test_an_erasure_by_another_instance_leaves_this_cache_on_revalidation(
    fresh_db: Database, publisher: Publisher, kafka_settings: Any, make_event: Any
) -> None:
    cache, profile_id, kept = await _two_cached_customers(fresh_db, make_event)
    # Another instance erases the customer: it holds no handle on this process's cache.
    topic = kafka_settings.topics.profile_changes
    assert await erase_customer(fresh_db, publisher, topic, profile_id) is not None
    assert profile_id in cache.held()  # nothing told this process yet
    assert await revalidate_cache(fresh_db, cache) == 1
    assert set(cache.held()) == {kept}
    # A profile still current survives the check and is still used by the next fold.
    await fold_events(fresh_db, [_purchase(make_event, {"customer_id": "x"}, 1)], cache=cache)
    assert kept in cache.held()


async def test_a_merge_by_another_instance_drops_the_merged_away_profile_here(
    fresh_db: Database, make_event: Any
) -> None:
    here = ProfileCache(100)
    c = uuid.uuid4().hex
    anon, email = {"anonymous_id": f"anon-{c}"}, {"email": f"{c}@example.com"}
    await fold_events(fresh_db, [_purchase(make_event, email, 10)])  # the older profile
    await fold_events(fresh_db, [_purchase(make_event, anon, 5)], cache=here)
    merged_away = (await _profile(fresh_db, "anonymous_id", anon["anonymous_id"]))["profile_id"]
    assert merged_away in here.held()
    # Another instance (no cache of this one) finds the link and merges into the email's.
    await fold_events(fresh_db, [make_event("signed_up", {**anon, **email}, {})])
    survivor = (await _profile(fresh_db, "anonymous_id", anon["anonymous_id"]))["profile_id"]
    assert survivor != merged_away
    assert await revalidate_cache(fresh_db, here) == 1
    assert merged_away not in here.held()
