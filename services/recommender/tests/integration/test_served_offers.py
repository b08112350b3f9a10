"""GET offers answers from the ranking the re-ranker stored, never from a wrong one: a fold
marks the customer (their offers are ranked live until the re-ranker has stored new ones),
time alone makes a ranking due, a merged-away id finds its survivor's ranking, and an erased
customer has none left."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from rapport_events.changes import Erased, Merged
from rapport_events.db import Database
from rapport_events.envelope import now_utc
from rapport_recommender.handlers import fold, served_offers
from rapport_recommender.store import stale
from services.recommender.tests.integration.test_offers_rules import (
    SETTINGS,
    cart,
    drain,
    email_consent,
    email_hash,
    event,
    identified,
    new_customer,
    order,
    seed_pairs,
    tag,
)

pytestmark = pytest.mark.integration


async def stored_ids(db: Database, *pids: uuid.UUID) -> set[uuid.UUID]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT profile_id FROM ranked_offers WHERE profile_id = ANY(:p)"),
            {"p": list(pids)},
        )
        return set(rows.scalars())


async def marked(db: Database, pid: uuid.UUID) -> bool:
    async with db.connection() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM stale_offers WHERE profile_id = :p"), {"p": pid}
        )
    return bool(found)


async def test_a_fold_makes_get_rank_live_until_the_reranker_stored_the_new_ranking(
    fresh_db: Database,
) -> None:
    t = tag()
    email, pid = new_customer()
    await fold(
        fresh_db,
        SETTINGS,
        [email_consent(email), cart(email, f"{t}-MUG", timedelta(hours=1))],
        [identified(pid, email)],
    )
    await drain(fresh_db)
    served = await served_offers(fresh_db, SETTINGS, pid)
    assert served.stored
    assert served.offers[0]["kind"] == "abandoned_cart"
    assert served.offers[0]["channel"] == "email"
    # Unsubscribed: the stored ranking (email first) is never served again.
    await fold(fresh_db, SETTINGS, [event(email, "unsubscribed", {}, channel="email")], [])
    served = await served_offers(fresh_db, SETTINGS, pid)
    assert not served.stored
    assert served.offers
    assert all(o["channel"] != "email" for o in served.offers)
    await drain(fresh_db)
    served = await served_offers(fresh_db, SETTINGS, pid)
    assert served.stored
    assert all(o["channel"] != "email" for o in served.offers)


async def test_time_alone_makes_a_stored_ranking_due_and_the_reranker_redoes_it(
    fresh_db: Database,
) -> None:
    settings = SETTINGS.model_copy(update={"abandoned_cart_minutes": 30})
    t = tag()
    email, pid = new_customer()
    await fold(
        fresh_db,
        settings,
        [cart(email, f"{t}-MUG", timedelta(minutes=10))],
        [identified(pid, email)],
    )
    await drain(fresh_db, settings)
    now = now_utc()
    served = await served_offers(fresh_db, settings, pid, now)
    assert served.stored
    assert all(o["kind"] != "abandoned_cart" for o in served.offers)
    # Twenty-five minutes on, no event at all: the cart is abandoned now.
    later = now + timedelta(minutes=25)
    served = await served_offers(fresh_db, settings, pid, later)
    assert not served.stored
    assert served.offers[0]["kind"] == "abandoned_cart"
    assert await marked(fresh_db, pid)  # GET asked the re-ranker for a new ranking
    await drain(fresh_db, settings)
    # The re-ranker itself finds the rankings that time made wrong.
    async with fresh_db.transaction() as conn:
        assert await stale.queue_due(conn, later, 1000) >= 1
    assert await marked(fresh_db, pid)


async def test_a_merged_away_id_serves_the_survivors_ranking_and_erasure_deletes_it(
    fresh_db: Database,
) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    web, web_pid = new_customer()
    store, store_pid = new_customer()
    await fold(
        fresh_db,
        SETTINGS,
        [order(web, f"{t}-LAMP", ago=timedelta(days=2))],
        [identified(web_pid, web), identified(store_pid, store)],
    )
    await drain(fresh_db)
    assert await stored_ids(fresh_db, web_pid, store_pid) == {web_pid, store_pid}
    hashes = [email_hash(web), email_hash(store)]
    merged = Merged(
        profile_id=web_pid,
        changed_at=now_utc(),
        version=3,
        merged_ids=[store_pid],
        identifier_hashes=hashes,
    )
    await fold(fresh_db, SETTINGS, [], [merged])
    assert await stored_ids(fresh_db, web_pid, store_pid) == {web_pid}
    await drain(fresh_db)
    served = await served_offers(fresh_db, SETTINGS, store_pid)
    assert served.stored
    assert served.survivor == web_pid
    assert served.offers == (await served_offers(fresh_db, SETTINGS, web_pid)).offers
    assert any(f"{t}-SHADE" in o["items"] for o in served.offers)
    erased = Erased(
        profile_id=web_pid,
        changed_at=now_utc(),
        version=4,
        merged_ids=[store_pid],
        identifier_hashes=hashes,
    )
    await fold(fresh_db, SETTINGS, [], [erased])
    assert await stored_ids(fresh_db, web_pid, store_pid) == set()
    for any_id in (web_pid, store_pid):
        served = await served_offers(fresh_db, SETTINGS, any_id)
        assert not served.stored
        assert served.offers == []
    await drain(fresh_db)
    assert await stored_ids(fresh_db, web_pid, store_pid) == set()
    assert not await marked(fresh_db, web_pid)


async def test_an_unknown_id_is_answered_but_never_stored(fresh_db: Database) -> None:
    stranger = uuid.uuid4()
    served = await served_offers(fresh_db, SETTINGS, stranger)
    assert not served.stored
    assert served.survivor == stranger
    assert not await marked(fresh_db, stranger)
    await drain(fresh_db)
    assert await stored_ids(fresh_db, stranger) == set()
