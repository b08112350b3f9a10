"""The fold and the ranking against real PostgreSQL: each offer kind arises from its cause,
and the rules (consent, caps, exclusions, complaints, erasure) always hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from rapport_events.changes import CardChanged, Erased, Identified, Merged
from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent, now_utc, parse_event
from rapport_events.identity import IdentityKind, identifier_hash
from rapport_recommender.domain.offers import Kind, Offer
from rapport_recommender.handlers import fold, forget_old_contacts, offers_for, served_offers
from rapport_recommender.rerank import merge_pending_pairs, rerank_at_once, rerank_stale
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store.reads import MarketReads

NOW = datetime.now(UTC)


def event(
    email: str,
    kind: str,
    props: dict[str, Any],
    *,
    ago: timedelta = timedelta(0),
    channel: str = "web",
    country: str | None = None,
    at: datetime = NOW,
) -> TouchpointEvent:
    return parse_event(
        {
            "event_id": str(uuid.uuid4()),
            "type": kind,
            "channel": channel,
            "occurred_at": (at - ago).isoformat(),
            "identity": {"email": email},
            "properties": props,
            "context": {"country": country} if country else {},
        }
    )


def order(
    email: str, *skus: str, ago: timedelta = timedelta(days=60), **kw: Any
) -> TouchpointEvent:
    lines = [{"sku": s, "name": f"Item {s}", "quantity": 1, "price": 5} for s in skus]
    return event(
        email,
        "order_completed",
        {"order_id": uuid.uuid4().hex, "items": lines, "total": 5 * len(skus), "currency": "GBP"},
        ago=ago,
        **kw,
    )


def offer_event(
    email: str, outcome: str, kind: str, *skus: str, channel: str = "web"
) -> TouchpointEvent:
    return event(
        email,
        f"offer_{outcome}",
        {"offer_id": uuid.uuid4().hex, "kind": kind, "items": list(skus), "channel": channel},
    )


def email_hash(email: str) -> str:
    return identifier_hash(IdentityKind.EMAIL, email)


def identified(profile_id: uuid.UUID, *emails: str) -> Identified:
    return Identified(
        profile_id=profile_id, changed_at=NOW, identifier_hashes=[email_hash(e) for e in emails]
    )


def card(profile_id: uuid.UUID, version: int = 1, **fields: Any) -> CardChanged:
    return CardChanged(profile_id=profile_id, changed_at=NOW, version=version, **fields)


def new_customer() -> tuple[str, uuid.UUID]:
    return f"c-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4()


pytestmark = pytest.mark.integration
SETTINGS = RecommenderSettings(abandoned_cart_minutes=0)


async def drain(db: Database, settings: RecommenderSettings = SETTINGS) -> None:
    """What the re-rankers and the pair merger do beside the service: every customer a fold
    marked ranked (those marked at once by their lane first, then in turn, once the pairs
    folded before their mark are merged)."""
    while (
        await merge_pending_pairs(db, settings)
        + len(await rerank_at_once(db, settings))
        + len(await rerank_stale(db, settings))
    ):
        pass


async def ranked(db: Database, profile_id: uuid.UUID) -> list[Offer]:
    """The offers as GET offers serves them: the re-ranker has ranked every customer a fold
    marked and stored the ranking, which must be what ranking the customer now gives."""
    await drain(db)
    now = now_utc()
    served = await served_offers(db, SETTINGS, profile_id, now)
    async with db.connection() as conn:
        survivor, live = await offers_for(conn, SETTINGS, profile_id, now)
    assert served.survivor == survivor
    assert [as_offer(o).signature for o in served.offers] == [o.signature for o in live]
    return [as_offer(o) for o in served.offers]


def as_offer(served: dict[str, Any]) -> Offer:
    return Offer(
        served["offer_id"],
        Kind(served["kind"]),
        tuple(served["items"]),
        served["score"],
        served["reason"],
        served["channel"],
        datetime.fromisoformat(served["expires_at"]),
    )


def email_consent(email: str) -> TouchpointEvent:
    return event(
        email,
        "consent_updated",
        {"purpose": "marketing", "channel": "email", "granted": True},
        ago=timedelta(hours=2),
    )


def cart(email: str, sku: str, ago: timedelta) -> TouchpointEvent:
    return event(
        email,
        "cart_updated",
        {"cart_id": sku, "items": [{"sku": sku, "quantity": 1, "price": 3}]},
        ago=ago,
    )


def tag() -> str:
    return uuid.uuid4().hex[:6]


async def merge_pairs(db: Database) -> None:
    """What the pair merger does beside the service: every folded co-occurrence counted."""
    while await merge_pending_pairs(db, SETTINGS):
        pass


async def seed_pairs(db: Database, t: str) -> None:
    """Other customers who bought the lamp also bought the shade (and the lamp is popular)."""
    events = []
    for i in range(5):
        events.append(order(f"other{i}-{t}@example.com", f"{t}-LAMP", f"{t}-SHADE"))
    events.append(order(f"x-{t}@example.com", f"{t}-LAMP", f"{t}-BULB"))
    await fold(db, SETTINGS, events, [])
    await merge_pairs(db)


async def test_co_purchase_offer_explains_itself_and_never_repeats_a_recent_buy(
    fresh_db: Database,
) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = new_customer()
    await fold(
        fresh_db,
        SETTINGS,
        [order(email, f"{t}-LAMP", ago=timedelta(days=2))],
        [identified(pid, email)],
    )
    offers = await ranked(fresh_db, pid)
    products = [o for o in offers if o.kind == "product"]
    assert products[0].items == (f"{t}-SHADE",)
    assert products[0].reason.startswith(f"Often bought with the Item {t}-LAMP you bought on")
    assert products[0].channel == "web"
    assert all(f"{t}-LAMP" not in o.items for o in offers)
    # The shade outranks the bulb: more customers have both with the lamp.
    skus = [o.items[0] for o in products]
    assert skus.index(f"{t}-SHADE") < skus.index(f"{t}-BULB")


async def test_a_shared_market_copy_is_kept_but_a_customers_own_rows_are_always_fresh(
    fresh_db: Database,
) -> None:
    """The API's market copy (catalogue, neighbours) may be a few seconds old; the rules on
    the customer's own rows hold at once all the same."""
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = new_customer()
    await fold(fresh_db, SETTINGS, [order(email, f"{t}-LAMP")], [identified(pid, email)])
    market = MarketReads(seconds=3600)
    async with fresh_db.connection() as conn:
        _, before = await offers_for(conn, SETTINGS, pid, market=market)
    assert (f"{t}-SHADE",) in [o.items for o in before if o.kind == "product"]
    # The customer buys the shade now and the lamp's neighbours grow a new best companion:
    # the copy still holds the old neighbours, but the shade is never offered again.
    await fold(fresh_db, SETTINGS, [order(email, f"{t}-SHADE", ago=timedelta(0))], [])
    more = [order(f"n{i}-{t}@example.com", f"{t}-LAMP", f"{t}-CORD") for i in range(9)]
    await fold(fresh_db, SETTINGS, more, [])
    async with fresh_db.connection() as conn:
        _, cached = await offers_for(conn, SETTINGS, pid, market=market)
        _, fresh = await offers_for(conn, SETTINGS, pid)
    assert all(f"{t}-SHADE" not in o.items for o in cached + fresh)
    assert f"{t}-CORD" not in {s for o in cached for s in o.items}
    assert (f"{t}-CORD",) in [o.items for o in fresh if o.kind == "product"]


async def test_buy_again_brings_back_the_line_the_shop_re_orders(fresh_db: Database) -> None:
    """The fold counts each item's orders; a customer who bought a one-off gift and a staple
    once each, alike in every other way, is offered the staple first (others re-order it)."""
    t = tag()
    gift, staple = f"{t}-A-GIFT", f"{t}-B-STAPLE"  # by sku alone, the gift would come first
    events = []
    for i in range(3):
        events.append(order(f"g{i}-{t}@example.com", gift))
        events += [order(f"s{i}-{t}@example.com", staple, ago=timedelta(days=d)) for d in (90, 50)]
    await fold(fresh_db, SETTINGS, events, [])
    email, pid = new_customer()
    await fold(fresh_db, SETTINGS, [order(email, gift, staple)], [identified(pid, email)])
    async with fresh_db.connection() as conn:
        counts = dict(
            (
                await conn.execute(
                    text("SELECT sku, orders FROM items WHERE sku IN (:g, :s)"),
                    {"g": gift, "s": staple},
                )
            ).all()
        )
    assert counts == {gift: 4, staple: 7}
    products = [o.items[0] for o in await ranked(fresh_db, pid) if o.kind == "product"]
    assert products.index(staple) < products.index(gift)


async def test_redelivered_batch_counts_once(fresh_db: Database) -> None:
    t = tag()
    events = [order(f"a-{t}@example.com", f"{t}-A", f"{t}-B")]
    assert (await fold(fresh_db, SETTINGS, events, [])).new == 1
    assert (await fold(fresh_db, SETTINGS, events, [])).new == 0
    await merge_pairs(fresh_db)
    async with fresh_db.connection() as conn:
        together = await conn.scalar(
            text("SELECT together FROM item_pairs WHERE kind='bought' AND a=:a AND b=:b"),
            {"a": f"{t}-A", "b": f"{t}-B"},
        )
    assert together == 1


async def test_open_complaint_puts_service_recovery_first_and_stops_sales(
    fresh_db: Database,
) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = new_customer()
    await fold(
        fresh_db,
        SETTINGS,
        [order(email, f"{t}-LAMP", ago=timedelta(days=2))],
        [identified(pid, email)],
    )
    assert all(o.kind != "service_recovery" for o in await ranked(fresh_db, pid))
    complaint = event(email, "complaint_logged", {"case_id": f"case-{t}"}, channel="call_center")
    await fold(fresh_db, SETTINGS, [complaint], [])
    offers = await ranked(fresh_db, pid)
    assert [o.kind for o in offers] == ["service_recovery"]
    assert offers[0].channel == "call_center"
    resolved = event(email, "case_resolved", {"case_id": f"case-{t}"}, channel="call_center")
    await fold(fresh_db, SETTINGS, [resolved], [])
    offers = await ranked(fresh_db, pid)
    assert offers
    assert all(o.kind != "service_recovery" for o in offers)
    assert any(o.kind == "product" for o in offers)


async def test_abandoned_cart_goes_by_email_until_unsubscribed(fresh_db: Database) -> None:
    t = tag()
    email, pid = new_customer()
    await fold(fresh_db, SETTINGS, [email_consent(email)], [identified(pid, email)])
    assert all(o.kind != "abandoned_cart" for o in await ranked(fresh_db, pid))
    await fold(fresh_db, SETTINGS, [cart(email, f"{t}-MUG", timedelta(hours=1))], [])
    offers = await ranked(fresh_db, pid)
    assert offers[0].kind == "abandoned_cart"
    assert offers[0].items == (f"{t}-MUG",)
    assert offers[0].channel == "email"
    await fold(fresh_db, SETTINGS, [event(email, "unsubscribed", {}, channel="email")], [])
    offers = await ranked(fresh_db, pid)
    assert offers[0].kind == "abandoned_cart"
    assert all(o.channel != "email" for o in offers)
    # The order that follows the cart ends it.
    await fold(fresh_db, SETTINGS, [order(email, f"{t}-MUG", ago=timedelta(0))], [])
    assert all(o.kind != "abandoned_cart" for o in await ranked(fresh_db, pid))


async def test_contact_cap_closes_a_channel_for_the_week(fresh_db: Database) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = new_customer()
    await fold(
        fresh_db,
        SETTINGS,
        [order(email, f"{t}-LAMP", ago=timedelta(days=2))],
        [identified(pid, email)],
    )
    assert any(o.channel == "web" for o in await ranked(fresh_db, pid))
    shown = [
        offer_event(email, "presented", "product", f"{t}-SHADE")
        for _ in range(SETTINGS.contact_cap_per_week)
    ]
    await fold(fresh_db, SETTINGS, shown, [])
    offers = await ranked(fresh_db, pid)
    assert all(o.channel != "web" for o in offers)
    # No consent for outreach: products fall back to the in-store / agent channels only.
    assert all(o.channel in {"store", "call_center"} for o in offers)


async def test_reward_win_back_arise_from_the_card_only(fresh_db: Database) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = new_customer()
    await fold(
        fresh_db,
        SETTINGS,
        [order(email, f"{t}-LAMP", ago=timedelta(days=2))],
        [identified(pid, email)],
    )
    kinds = {o.kind for o in await ranked(fresh_db, pid)}
    assert "reward" not in kinds
    assert "win_back" not in kinds
    await fold(fresh_db, SETTINGS, [], [card(pid, 1, value_tier="top", lifecycle_stage="active")])
    kinds = {o.kind for o in await ranked(fresh_db, pid)}
    assert "reward" in kinds
    assert "win_back" not in kinds
    await fold(fresh_db, SETTINGS, [], [card(pid, 2, value_tier="mid", lifecycle_stage="lapsed")])
    offers = await ranked(fresh_db, pid)
    kinds = {o.kind for o in offers}
    assert "win_back" in kinds
    assert "reward" not in kinds
    # An older card version arriving late changes nothing.
    await fold(fresh_db, SETTINGS, [], [card(pid, 1, value_tier="top", lifecycle_stage="active")])
    assert "reward" not in {o.kind for o in await ranked(fresh_db, pid)}


async def test_answers_shift_the_ranking(fresh_db: Database) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    email, pid = new_customer()
    segment_tier = f"tier-{t}"  # a segment of this test's own
    await fold(
        fresh_db,
        SETTINGS,
        [order(email, f"{t}-LAMP", ago=timedelta(days=2))],
        [identified(pid, email), card(pid, 1, value_tier=segment_tier, lifecycle_stage="loyal")],
    )
    assert (await ranked(fresh_db, pid))[0].kind == "reward"
    declines = [offer_event(email, "declined", "reward") for _ in range(3)]
    await fold(fresh_db, SETTINGS, declines, [])
    offers = await ranked(fresh_db, pid)
    assert offers[0].kind == "product"
    assert [o.kind for o in offers].index("reward") > 0
    # An item declined twice rests; once is not enough.
    await fold(fresh_db, SETTINGS, [offer_event(email, "declined", "product", f"{t}-SHADE")], [])
    assert any(f"{t}-SHADE" in o.items for o in await ranked(fresh_db, pid))
    await fold(fresh_db, SETTINGS, [offer_event(email, "declined", "product", f"{t}-SHADE")], [])
    assert all(f"{t}-SHADE" not in o.items for o in await ranked(fresh_db, pid))


async def test_merge_uses_both_histories_and_erasure_survives_replay(fresh_db: Database) -> None:
    t = tag()
    await seed_pairs(fresh_db, t)
    web, web_pid = new_customer()
    store, store_pid = new_customer()
    bought_web = order(web, f"{t}-LAMP", ago=timedelta(days=2))
    bought_store = order(store, f"{t}-BULB", ago=timedelta(days=3))
    await fold(
        fresh_db,
        SETTINGS,
        [bought_web, bought_store],
        [identified(web_pid, web), identified(store_pid, store)],
    )
    merged = Merged(
        profile_id=web_pid,
        changed_at=bought_web.occurred_at,
        version=3,
        merged_ids=[store_pid],
        identifier_hashes=[email_hash(web), email_hash(store)],
    )
    await fold(fresh_db, SETTINGS, [], [merged])
    for any_id in (web_pid, store_pid):
        offers = await ranked(fresh_db, any_id)
        items = {s for o in offers for s in o.items}
        assert f"{t}-LAMP" not in items
        assert f"{t}-BULB" not in items
    erased = Erased(
        profile_id=web_pid,
        changed_at=bought_web.occurred_at,
        version=4,
        merged_ids=[store_pid],
        identifier_hashes=[email_hash(web), email_hash(store)],
    )
    await fold(fresh_db, SETTINGS, [], [erased])
    async with fresh_db.connection() as conn:
        for table in ("customer_items", "customers", "aliases"):
            left = await conn.scalar(
                text(
                    f"SELECT count(*) FROM {table} WHERE {'identifier_hash' if table == 'aliases' else 'subject'} = ANY(:h)"
                ),
                {"h": [email_hash(web), email_hash(store)]},
            )
            assert left == 0, table
    assert await ranked(fresh_db, web_pid) == []
    # A replay of the stream (new deliveries of the same facts) brings nothing back.
    replay = [order(web, f"{t}-LAMP", ago=timedelta(days=2))]
    await fold(fresh_db, SETTINGS, replay, [identified(web_pid, web)])
    async with fresh_db.connection() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM customer_items WHERE subject = :h"), {"h": email_hash(web)}
        )
    assert left == 0
    assert await ranked(fresh_db, web_pid) == []


async def test_contacts_older_than_the_cap_window_are_forgotten(fresh_db: Database) -> None:
    email, _ = new_customer()
    offer = {"offer_id": f"off-{tag()}", "kind": "product", "channel": "email"}
    old = event(email, "offer_presented", offer, ago=timedelta(days=30), channel="email")
    recent = event(email, "offer_presented", offer, ago=timedelta(days=1), channel="email")
    await fold(fresh_db, SETTINGS, [old, recent], [])
    subject = identifier_hash(IdentityKind.EMAIL, email)
    query = text("SELECT event_id FROM contacts WHERE subject = :s")
    async with fresh_db.connection() as conn:
        assert len((await conn.execute(query, {"s": subject})).all()) == 2
    await forget_old_contacts(fresh_db)
    async with fresh_db.connection() as conn:
        kept = (await conn.execute(query, {"s": subject})).scalars().all()
    assert kept == [recent.event_id]


async def test_the_newer_sighting_gives_the_country_whatever_the_fold_order(
    fresh_db: Database,
) -> None:
    """The express lane folds complaints and consents ahead of the stream: an older event
    folded after a newer one must not roll the customer's country back."""
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    newer = event(email, "page_viewed", {"url": "/"}, country="FR")
    older = event(email, "page_viewed", {"url": "/"}, country="DE", ago=timedelta(hours=1))
    await fold(fresh_db, SETTINGS, [newer], [])
    await fold(fresh_db, SETTINGS, [older], [])
    async with fresh_db.connection() as conn:
        country = await conn.scalar(
            text("SELECT country FROM customers WHERE subject = :s"), {"s": email_hash(email)}
        )
    assert country == "FR"
