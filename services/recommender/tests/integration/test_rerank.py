"""The fold marks, the re-ranker ranks: against real PostgreSQL (and Kafka for publishing).

What must hold: a fold leaves its customers marked (durably: a restart ranks them); a fold
that lands while a chunk is being ranked keeps its mark for one more pass; a newer claim voids
an older one; merges and erasures void the rankings in flight of the ids they remove."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from rapport_events.changes import Erased, Merged
from rapport_events.codec import decode_json
from rapport_events.db import Database
from rapport_events.envelope import now_utc
from rapport_events.kafka import Publisher
from rapport_events.settings import KafkaSettings
from rapport_recommender.background import Worker, working
from rapport_recommender.domain.facts import Priority
from rapport_recommender.handlers import fold, fold_into
from rapport_recommender.rerank import (
    Outbox,
    fold_and_rank_at_once,
    rerank_and_publish,
    rerank_at_once,
    rerank_stale,
)
from rapport_recommender.store import queries, stale
from rapport_recommender.store.reads import MarketReads
from services.recommender.tests.integration.test_offers_rules import (
    NOW,
    SETTINGS,
    drain,
    email_hash,
    event,
    identified,
    merge_pairs,
    new_customer,
    order,
    seed_pairs,
    tag,
)

pytestmark = pytest.mark.integration
LEASE = timedelta(seconds=30)


async def marks(db: Database, *pids: uuid.UUID) -> dict[uuid.UUID, Any]:
    """profile id → its claim (None: unclaimed) for those of `pids` still marked."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT profile_id, claim FROM stale_offers WHERE profile_id = ANY(:p)"),
            {"p": list(pids)},
        )
        return {row.profile_id: row.claim for row in rows}


async def best(db: Database, pid: uuid.UUID) -> dict[str, Any] | None:
    async with db.connection() as conn:
        row = (
            await conn.execute(
                text("SELECT offer, published FROM best_offers WHERE profile_id = :p"), {"p": pid}
            )
        ).first()
    return None if row is None else {"offer": row.offer["offer"], "published": row.published}


async def bought_lamp(db: Database, t: str) -> tuple[str, uuid.UUID]:
    """A customer who bought the lamp, identified: the shade is the offer to expect."""
    email, pid = new_customer()
    await fold(db, SETTINGS, [order(email, f"{t}-LAMP", ago=timedelta(days=2))], [])
    await fold(db, SETTINGS, [], [identified(pid, email)])
    return email, pid


async def test_fold_marks_and_rerank_queues_the_changed_best_offer(fresh_db: Database) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    await drain(fresh_db)
    _, pid = await bought_lamp(fresh_db, t)
    assert pid in await marks(fresh_db, pid)
    assert await best(fresh_db, pid) is None  # the fold itself ranks nothing
    await drain(fresh_db)
    assert await marks(fresh_db, pid) == {}
    found = await best(fresh_db, pid)
    assert found is not None
    assert found["offer"]["items"] == [f"{t}-SHADE"]
    assert found["published"] is False  # the outbox: publishing is the next step


async def test_a_mere_sighting_marks_only_a_customer_whose_ranking_it_can_change(
    fresh_db: Database,
) -> None:
    t = tag()
    email, pid = await bought_lamp(fresh_db, t)
    await drain(fresh_db)
    opened = {"message_id": f"{t}-m"}
    await fold(fresh_db, SETTINGS, [event(email, "email_opened", opened, channel="email")], [])
    assert await marks(fresh_db, pid) == {}  # on record, no country: the same offers

    visit = {"url": "https://shop.example.com/c/1"}
    await fold(fresh_db, SETTINGS, [event(email, "page_viewed", visit, country="FR")], [])
    assert pid in await marks(fresh_db, pid)  # a country: its popular items count
    await drain(fresh_db)
    await fold(fresh_db, SETTINGS, [event(email, "email_opened", opened, channel="email")], [])
    # With a country on record, the latest sighting may decide a profile's country.
    assert pid in await marks(fresh_db, pid)

    other, pid2 = await bought_lamp(fresh_db, t)
    second = f"second-{other}"
    await fold(fresh_db, SETTINGS, [], [identified(pid2, other, second)])
    await drain(fresh_db)
    await fold(fresh_db, SETTINGS, [event(second, "email_opened", opened, channel="email")], [])
    assert pid2 in await marks(fresh_db, pid2)  # an identifier's first sighting


async def test_a_fold_during_ranking_keeps_the_mark_for_one_more_pass(
    fresh_db: Database,
) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = await bought_lamp(fresh_db, t)
    await drain(fresh_db)
    await fold(fresh_db, SETTINGS, [], [identified(pid, email)])  # marks pid again
    token = uuid.uuid4()
    async with fresh_db.transaction() as conn:
        claimed = await stale.claim(conn, token, 1_000_000, LEASE)
    assert pid in claimed
    # A fold for the same customer lands while the chunk is being ranked.
    await fold(fresh_db, SETTINGS, [order(email, f"{t}-BULB", ago=timedelta(days=1))], [])
    async with fresh_db.transaction() as conn:
        held = await stale.settle(conn, token, claimed)
    assert pid in held  # what was ranked may still be written (progress)...
    assert (await marks(fresh_db, pid)) == {pid: None}  # ...but the mark stays, unclaimed
    await drain(fresh_db)
    assert await marks(fresh_db, pid) == {}


async def test_customers_a_rule_acts_on_are_ranked_first(fresh_db: Database) -> None:
    """A backlog of marks is ranked oldest first, except that a customer whose change a rule
    acts on (here a complaint: service recovery first) goes before every ordinary one; a
    view re-marking them while they are ranked does not keep them ahead."""
    (viewer_email, viewer), (caller_email, caller) = new_customer(), new_customer()
    await fold(
        fresh_db, SETTINGS, [], [identified(viewer, viewer_email), identified(caller, caller_email)]
    )
    await drain(fresh_db)
    view = {"sku": "SKU-1", "name": "Linen lamp"}
    await fold(fresh_db, SETTINGS, [event(viewer_email, "product_viewed", view)], [])
    complaint = event(caller_email, "complaint_logged", {"case_id": "c-1"}, channel="call_center")
    await fold(fresh_db, SETTINGS, [complaint], [])
    token = uuid.uuid4()
    async with fresh_db.transaction() as conn:
        assert await stale.claim(conn, token, 1, LEASE) == [caller]
    await fold(fresh_db, SETTINGS, [event(caller_email, "product_viewed", view)], [])
    async with fresh_db.transaction() as conn:
        await stale.settle(conn, token, [caller])
        # The caller's complaint was ranked; what renewed the mark was a view: oldest first.
        assert await stale.claim(conn, uuid.uuid4(), 1, LEASE) == [viewer]


async def test_a_complaint_has_a_lane_of_its_own_and_still_gets_the_full_pass(
    fresh_db: Database,
) -> None:
    """Customers marked at once (a complaint, a consent) are the at-once lane's alone: the
    re-ranker's chunks leave them, so that a slow chunk never holds them. The lane leaves
    their mark as an ordinary one, and the re-ranker's pass (after the pair merge) comes."""
    (buyer_email, buyer), (caller_email, caller) = new_customer(), new_customer()
    await fold(
        fresh_db, SETTINGS, [], [identified(buyer, buyer_email), identified(caller, caller_email)]
    )
    await drain(fresh_db)
    t = tag()
    await fold(fresh_db, SETTINGS, [order(buyer_email, f"{t}-LAMP")], [])
    # Happening now: only a complaint folded within a minute of it is live (NOW is the time the
    # module was imported, which a long run leaves minutes behind).
    complaint = event(
        caller_email, "complaint_logged", {"case_id": "c-1"}, channel="call_center", at=now_utc()
    )
    folded = await fold(fresh_db, SETTINGS, [complaint], [])
    assert folded.at_once == {caller}
    await merge_pairs(fresh_db)  # the merger, beside the re-ranker
    assert await rerank_stale(fresh_db, SETTINGS) == [buyer]  # the purchase only
    assert await marks(fresh_db, buyer, caller) == {caller: None}
    assert await rerank_at_once(fresh_db, SETTINGS) == [caller]
    assert (await best(fresh_db, caller) or {})["offer"]["kind"] == "service_recovery"
    assert await marks(fresh_db, buyer, caller) == {caller: None}  # left for the full pass
    assert await rerank_at_once(fresh_db, SETTINGS) == []
    assert await rerank_stale(fresh_db, SETTINGS) == [caller]
    assert await marks(fresh_db, buyer, caller) == {}


async def test_a_mark_a_fold_holds_as_the_lane_settles_stays_in_the_lane(
    fresh_db: Database,
) -> None:
    """The at-once lane skips marks a fold holds when it settles (their ranking is not
    written); the fold renews them at its own priority, so the lane puts theirs back."""
    _, pid = new_customer()
    async with fresh_db.transaction() as conn:
        await stale.mark(conn, [pid], {pid: Priority.AT_ONCE})
    token = uuid.uuid4()
    async with fresh_db.transaction() as conn:
        assert await stale.claim(conn, token, 1, LEASE, at_least=Priority.AT_ONCE) == [pid]
    async with fresh_db.transaction() as folding:
        await stale.mark(folding, [pid])  # a card change, in turn, holding the row
        async with fresh_db.transaction() as conn:
            assert await stale.settle(conn, token, [pid], requeue=True) == set()

        async def keep() -> None:
            async with fresh_db.transaction() as conn:
                await stale.keep_priority(conn, [pid], Priority.AT_ONCE)

        keeping = asyncio.create_task(keep())
        await asyncio.sleep(0.2)
        assert not keeping.done()  # it waits for the fold to commit
    await keeping
    async with fresh_db.transaction() as conn:
        assert await stale.claim(conn, uuid.uuid4(), 1, LEASE, at_least=Priority.AT_ONCE) == [pid]


async def test_a_newer_claim_voids_the_older_one(fresh_db: Database) -> None:
    _, pid = new_customer()
    async with fresh_db.transaction() as conn:
        await stale.mark(conn, [pid])
    first, second = uuid.uuid4(), uuid.uuid4()
    async with fresh_db.transaction() as conn:
        assert pid in await stale.claim(conn, first, 1_000_000, timedelta(0))
    await asyncio.sleep(0.01)  # the lease of the first claimant runs out
    async with fresh_db.transaction() as conn:
        assert pid in await stale.claim(conn, second, 1_000_000, LEASE)
    async with fresh_db.transaction() as conn:
        assert await stale.settle(conn, first, [pid]) == set()
    assert await marks(fresh_db, pid) == {pid: second}
    async with fresh_db.transaction() as conn:
        assert await stale.settle(conn, second, [pid]) == {pid}
    assert await marks(fresh_db, pid) == {}


async def test_merge_and_erasure_void_rankings_in_flight(fresh_db: Database) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = await bought_lamp(fresh_db, t)
    other_email, other = await bought_lamp(fresh_db, t)
    token = uuid.uuid4()
    async with fresh_db.transaction() as conn:
        claimed = await stale.claim(conn, token, 1_000_000, LEASE)
    assert {pid, other} <= set(claimed)
    merged = Merged(
        profile_id=pid,
        changed_at=NOW,
        version=2,
        merged_ids=[other],
        identifier_hashes=[email_hash(email), email_hash(other_email)],
    )
    await fold(fresh_db, SETTINGS, [], [merged])
    async with fresh_db.transaction() as conn:
        held = await stale.settle(conn, token, claimed)
    assert other not in held  # merged away while ranked: nothing written under its id
    assert pid in await marks(fresh_db, pid)  # the survivor goes round again
    await drain(fresh_db)
    assert await best(fresh_db, other) is None
    assert await best(fresh_db, pid) is not None
    # Erasure while the survivor is being ranked: nothing of it is written back.
    async with fresh_db.transaction() as conn:
        await stale.mark(conn, [pid])
        claimed = await stale.claim(conn, token, 1_000_000, LEASE)
    erased = Erased(
        profile_id=pid,
        changed_at=NOW,
        version=3,
        merged_ids=[other],
        identifier_hashes=[email_hash(email), email_hash(other_email)],
    )
    await fold(fresh_db, SETTINGS, [], [erased])
    async with fresh_db.transaction() as conn:
        assert await stale.settle(conn, token, claimed) & {pid, other} == set()
    await drain(fresh_db)
    assert await best(fresh_db, pid) is None
    assert await marks(fresh_db, pid, other) == {}


@pytest.fixture
async def offers_topic(
    kafka_settings: KafkaSettings,
) -> AsyncIterator[AIOKafkaConsumer]:
    listener = AIOKafkaConsumer(
        kafka_settings.topics.offers,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"listen-{tag()}",
    )
    await listener.start()
    yield listener
    await listener.stop()


async def test_marks_left_by_a_stopped_instance_are_ranked_and_published_by_the_next(
    fresh_db: Database,
    kafka_settings: KafkaSettings,
    publisher: Publisher,
    offers_topic: AIOKafkaConsumer,
) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    _, pid = await bought_lamp(fresh_db, t)  # folded; no re-ranker ran: the mark waits
    settings = SETTINGS.model_copy(update={"kafka": kafka_settings})
    outbox = Outbox(fresh_db, publisher, settings.kafka.topics.offers)
    reranker = Worker(
        "rerank", lambda: rerank_and_publish(fresh_db, settings, outbox), poll_seconds=0.1
    )
    async with working([reranker]):
        found: dict[str, Any] | None = None
        for _ in range(100):
            for records in (await offers_topic.getmany(timeout_ms=200)).values():
                for record in records:
                    body = decode_json(record.value)
                    if body["profile_id"] == str(pid) and body["offer"]:
                        found = dict(body)
            if found:
                break
    assert found is not None, "no offer published"
    assert found["offer"]["items"] == [f"{t}-SHADE"]
    assert (await best(fresh_db, pid) or {}).get("published") is True


async def test_a_mark_is_ranked_in_turn_once_the_pairs_folded_before_it_are_merged(
    fresh_db: Database,
) -> None:
    """The merger runs beside the re-ranker, which claims a mark once every pair batch folded
    before it is in item_pairs: a stored ranking is redone only when a fold marks the customer
    again, so it must count the co-purchases folded before them. A mark renewed before the
    batch does not wait for it; the at-once lane waits for nothing."""
    t = tag()
    (early_email, early), (email, pid) = new_customer(), new_customer()
    caller_email, caller = new_customer()
    await fold(
        fresh_db, SETTINGS, [], [identified(early, early_email), identified(caller, caller_email)]
    )
    await drain(fresh_db)
    await fold(fresh_db, SETTINGS, [], [identified(early, early_email)])  # before the batch
    others = [order(f"o{i}-{t}@example.com", f"{t}-LAMP", f"{t}-SHADE") for i in range(5)]
    await fold(fresh_db, SETTINGS, others, [])  # their pairs wait for the merger
    lamp = order(email, f"{t}-LAMP", ago=timedelta(days=2))
    await fold(fresh_db, SETTINGS, [lamp], [identified(pid, email)])
    complaint = event(
        caller_email, "complaint_logged", {"case_id": "c-1"}, channel="call_center", at=now_utc()
    )
    await fold(fresh_db, SETTINGS, [complaint], [])
    while await rerank_stale(fresh_db, SETTINGS):
        pass
    assert await marks(fresh_db, early, pid, caller) == {pid: None, caller: None}
    assert await rerank_at_once(fresh_db, SETTINGS) == [caller]
    await merge_pairs(fresh_db)
    while await rerank_stale(fresh_db, SETTINGS):
        pass
    assert await marks(fresh_db, early, pid, caller) == {}
    found = await best(fresh_db, pid)
    assert found is not None
    assert found["offer"]["items"] == [f"{t}-SHADE"]
    assert found["offer"]["reason"].startswith(f"Often bought with the Item {t}-LAMP")


async def test_pending_pairs_are_added_once_summed_across_batches(fresh_db: Database) -> None:
    t = tag()
    for i in range(3):  # three batches, each one more customer with both
        await fold(fresh_db, SETTINGS, [order(f"p{i}-{t}@example.com", f"{t}-A", f"{t}-B")], [])
    query = text("SELECT together FROM item_pairs WHERE kind = 'bought' AND a = :a AND b = :b")
    async with fresh_db.connection() as conn:
        assert await conn.scalar(query, {"a": f"{t}-A", "b": f"{t}-B"}) is None
    await merge_pairs(fresh_db)
    await merge_pairs(fresh_db)  # nothing left: adds nothing
    async with fresh_db.connection() as conn:
        assert await conn.scalar(query, {"a": f"{t}-A", "b": f"{t}-B"}) == 3
        assert await conn.scalar(query, {"a": f"{t}-B", "b": f"{t}-A"}) == 3
        assert await conn.scalar(text("SELECT count(*) FROM pending_pairs")) == 0


async def test_the_express_lane_ranks_in_its_fold_and_voids_an_older_claim(
    fresh_db: Database,
) -> None:
    """A live complaint folded and ranked in one transaction: service recovery is the best
    offer when it commits, the mark is left for the ordinary pass, and an ordinary pass that
    claimed the customer before (ranking from before the complaint) writes nothing."""
    t = tag()
    await seed_pairs(fresh_db, t)
    await drain(fresh_db)
    email, pid = await bought_lamp(fresh_db, t)
    token = uuid.uuid4()
    async with fresh_db.transaction() as conn:
        assert pid in await stale.claim(conn, token, 100, LEASE)
    complaint = event(
        email, "complaint_logged", {"case_id": "c-9"}, channel="call_center", at=now_utc()
    )
    ranked = await fold_and_rank_at_once(fresh_db, SETTINGS, [complaint], MarketReads())
    assert ranked == [pid]
    assert (await best(fresh_db, pid) or {})["offer"]["kind"] == "service_recovery"
    assert await marks(fresh_db, pid) == {pid: None}  # unclaimed, left for the full pass
    async with fresh_db.transaction() as conn:
        assert await stale.settle(conn, token, [pid]) == set()  # the older claim is void
    # Folded once: the stream's consumer meets it again and changes nothing.
    assert (await fold(fresh_db, SETTINGS, [complaint], [])).new == 0
    # An event that marks no one at once is folded and ranks no one.
    view = event(email, "page_viewed", {"url": "/"}, at=now_utc())
    assert await fold_and_rank_at_once(fresh_db, SETTINGS, [view], MarketReads()) == []


async def published_to(listener: AIOKafkaConsumer, seconds: float) -> set[str]:
    """The profile ids of the offers that reach the topic within `seconds`."""
    found: set[str] = set()
    until = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < until:
        for records in (await listener.getmany(timeout_ms=200)).values():
            found.update(decode_json(record.value)["profile_id"] for record in records)
    return found


async def test_a_lane_sends_the_offers_of_its_own_customers_only(
    fresh_db: Database,
    kafka_settings: KafkaSettings,
    publisher: Publisher,
    offers_topic: AIOKafkaConsumer,
) -> None:
    """What a lane ranked at once goes out alone: not with (nor behind) every offer the
    ordinary rankings queued, which stay queued for their own sender."""
    t = tag()
    await seed_pairs(fresh_db, t)
    (_, mine), (_, theirs) = await bought_lamp(fresh_db, t), await bought_lamp(fresh_db, t)
    await drain(fresh_db)  # both best offers queued
    outbox = Outbox(fresh_db, publisher, kafka_settings.topics.offers)
    outbox.expect([mine])
    assert await outbox.send_expected() == 1
    assert await outbox.send_expected() == 0  # sent once
    assert {str(mine), str(theirs)} & await published_to(offers_topic, 2) == {str(mine)}
    assert (await best(fresh_db, mine) or {})["published"] is True
    assert (await best(fresh_db, theirs) or {})["published"] is False
    assert await outbox.send() >= 1  # everything queued, the ordinary way
    assert str(theirs) in await published_to(offers_topic, 5)
    assert (await best(fresh_db, theirs) or {})["published"] is True


async def queued_at(db: Database, pid: uuid.UUID) -> Any:
    async with db.connection() as conn:
        query = text("SELECT updated_at FROM best_offers WHERE profile_id = :p")
        return await conn.scalar(query, {"p": pid})


async def test_marking_an_offer_sent_never_waits_for_another_transaction(
    fresh_db: Database,
) -> None:
    """A row another transaction holds (a ranking writing a newer offer, another sender) is
    left to it: the mark does not wait, and marks the rest."""
    t = tag()
    await seed_pairs(fresh_db, t)
    (_, held), (_, free) = await bought_lamp(fresh_db, t), await bought_lamp(fresh_db, t)
    await drain(fresh_db)
    sent = {pid: await queued_at(fresh_db, pid) for pid in (held, free)}
    async with fresh_db.transaction() as holder:
        await holder.execute(
            text("SELECT 1 FROM best_offers WHERE profile_id = :p FOR UPDATE"), {"p": held}
        )
        async with fresh_db.transaction() as conn:
            await asyncio.wait_for(queries.mark_published(conn, sent), 10)
    assert (await best(fresh_db, held) or {})["published"] is False  # sent again later
    assert (await best(fresh_db, free) or {})["published"] is True


async def test_an_older_offer_sent_after_a_newer_one_queues_the_newer_again(
    fresh_db: Database,
) -> None:
    """Two senders each read before the other marked: the older offer may reach the topic
    last. The current one is queued again, so the topic ends with it."""
    t = tag()
    await seed_pairs(fresh_db, t)
    _, pid = await bought_lamp(fresh_db, t)
    await drain(fresh_db)
    current = await queued_at(fresh_db, pid)
    async with fresh_db.transaction() as conn:
        await queries.mark_published(conn, {pid: current})
    assert (await best(fresh_db, pid) or {})["published"] is True
    async with fresh_db.transaction() as conn:  # a sender that read an earlier version
        await queries.mark_published(conn, {pid: current - timedelta(seconds=1)})
    assert (await best(fresh_db, pid) or {})["published"] is False


async def test_the_express_lane_leaves_a_complaint_the_streams_fold_holds(
    fresh_db: Database,
) -> None:
    """Both consumers meet a complaint. When the stream's fold has it in a batch not yet
    committed, the express lane does not wait for that batch: it leaves the complaint to it,
    and the stream's fold marks the customer at once."""
    t = tag()
    await seed_pairs(fresh_db, t)
    await drain(fresh_db)
    email, pid = await bought_lamp(fresh_db, t)
    complaint = event(
        email, "complaint_logged", {"case_id": "c-7"}, channel="call_center", at=now_utc()
    )
    async with fresh_db.transaction() as conn:  # the stream's fold, its batch not committed
        folded = await fold_into(conn, SETTINGS, [complaint], [])
        ranked = await asyncio.wait_for(
            fold_and_rank_at_once(fresh_db, SETTINGS, [complaint], MarketReads()), 10
        )
        assert ranked == []
    assert folded.at_once == {pid}
    assert len(await rerank_at_once(fresh_db, SETTINGS)) == 1
    assert (await best(fresh_db, pid) or {})["offer"]["kind"] == "service_recovery"
