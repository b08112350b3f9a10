"""Use cases of the recommender: fold a batch (events and profile changes) in one unit of
work; rank the offers of a customer; publish best offers that changed.

The fold writes facts only: the customers whose ranking it may change (not those it merely
saw: `Facts.sighted_only`) are marked stale in the same transaction and ranked again by the
re-ranker (`rerank`) once it has committed, and its co-occurrence increments are recorded as
one row that `rerank.merge_pending_pairs` adds to item_pairs, so that a batch costs what its
own facts cost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_events.changes import CardChanged, Erased, Identified, Merged, ProfileChange
from rapport_events.codec import decode_json, encode_json
from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent, now_utc
from rapport_events.kafka import Publisher
from rapport_events.observability import get_logger
from rapport_recommender.domain.bandit import PRIOR, Posterior, segment_of
from rapport_recommender.domain.customer import (
    Card,
    CustomerState,
    ItemState,
    Market,
    history_of,
    merge_items,
    next_best_offers,
    open_complaints,
)
from rapport_recommender.domain.facts import (
    RULE_TYPES,
    Priority,
    Touch,
    Touchpoint,
    facts_of,
    touchpoint_of,
)
from rapport_recommender.domain.fold import BatchUpdate, fold_batch
from rapport_recommender.domain.freshness import valid_until
from rapport_recommender.domain.offers import Kind, Offer
from rapport_recommender.domain.rules import ConsentEntry
from rapport_recommender.settings import TREND_EPOCH, RecommenderSettings
from rapport_recommender.store import pairs, queries, stale
from rapport_recommender.store import ranked as ranked_store
from rapport_recommender.store.reads import MarketReads

log = get_logger(__name__)
CONTACT_WINDOW_DAYS = 7  # the contact cap counts offers presented in the last week


@dataclass(frozen=True, slots=True)
class Folded:
    new: int  # events not folded before
    # Customers marked to be ranked at once (domain.facts.Priority.AT_ONCE).
    at_once: frozenset[uuid.UUID]


async def fold(
    db: Database,
    settings: RecommenderSettings,
    events: Sequence[TouchpointEvent | Touchpoint],
    changes: Sequence[ProfileChange],
) -> Folded:
    """Fold a batch in one transaction; idempotent."""
    async with db.transaction() as conn:
        return await fold_into(conn, settings, events, changes)


async def fold_into(
    conn: AsyncConnection,
    settings: RecommenderSettings,
    events: Sequence[TouchpointEvent | Touchpoint],
    changes: Sequence[ProfileChange],
    *,
    ahead: bool = False,
) -> Folded:
    """`fold` in a transaction the caller holds (the express lane ranks in it too; `ahead`:
    the express lane's fold of live complaints and consents, ahead of the stream).

    Both consumers meet each complaint and consent, and one folds it at a time. The stream's
    fold waits for the express lane's short transaction; the express lane leaves an event to
    the stream's fold that holds it, which marks its customer at once just the same. Under
    load the express lane waited for that fold's whole batch to commit, only to find the
    event folded."""
    touchpoints = [touchpoint_of(event) for event in events]
    if rules := [t.event_id for t in touchpoints if t.type in RULE_TYPES]:
        if ahead:
            mine = await queries.try_hold_events(conn, rules)
            touchpoints = [t for t in touchpoints if t.type not in RULE_TYPES or t.event_id in mine]
        else:
            await queries.hold_events(conn, rules)
    new = await queries.new_event_ids(conn, [t.event_id for t in touchpoints])
    fresh = [t for t in touchpoints if t.event_id in new]
    dead = await queries.tombstoned(conn, (t.subject for t in fresh))
    fresh = [t for t in fresh if t.subject not in dead]
    facts = facts_of(fresh)
    params = settings.scoring()
    prior = await queries.item_histories(conn, facts.paired(), params.pair_window)
    # Read before the write: a sighting of a customer on record with no country changes
    # nothing their ranking reads, so it marks no one (the rest of the batch does).
    sighted = await queries.countries_of(conn, facts.sighted_only())
    unchanged = {subject for subject, country in sighted.items() if country is None}
    update = fold_batch(facts, prior, params, TREND_EPOCH)
    await _write(conn, update)
    profile_of = await queries.profiles_of_subjects(conn, facts.subjects() - unchanged)
    affected = set(profile_of.values())
    # Before the merges and erasures touch `best_offers`: a re-ranker settling one of these
    # ids locks its mark before its best offer, so this order cannot deadlock with it.
    gone = _gone(changes)
    await stale.forget(conn, gone)
    affected |= await _apply_changes(conn, changes)
    priority: dict[uuid.UUID, Priority] = {}
    for subject, level in facts.priorities(settings.live_since()).items():
        profile_id = profile_of.get(subject)
        if profile_id is not None and profile_id not in gone:
            priority[profile_id] = max(level, priority.get(profile_id, Priority.IN_TURN))
    await stale.mark(conn, affected - gone, priority)
    return Folded(
        len(fresh), frozenset(pid for pid, level in priority.items() if level is Priority.AT_ONCE)
    )


def _gone(changes: Sequence[ProfileChange]) -> set[uuid.UUID]:
    """Profile ids that will never be ranked again: merged away or erased."""
    gone: set[uuid.UUID] = set()
    for change in changes:
        if isinstance(change, Merged):
            gone |= set(change.merged_ids) - {change.profile_id}
        elif isinstance(change, Erased):
            gone |= {change.profile_id, *change.merged_ids}
    return gone


async def _write(conn: AsyncConnection, update: BatchUpdate) -> None:
    await queries.upsert_customers(conn, update.customers)
    await queries.upsert_customer_items(conn, update.customer_items)
    await queries.add_item_stats(conn, update.items)
    await queries.add_country_units(conn, update.country_units)
    await pairs.record(conn, update.co_baskets)  # added to item_pairs off the fold's path
    await queries.upsert_carts(
        conn,
        (
            {"subject": s, "skus": list(skus), "updated_at": at}
            for s, (skus, at) in update.carts.items()
        ),
    )
    await queries.upsert_complaints(
        conn,
        (
            {"subject": s, "case_id": c, "opened_at": o, "resolved_at": r}
            for (s, c), (o, r) in update.complaints.items()
        ),
    )
    await queries.upsert_consents(
        conn,
        (
            {"subject": s, "channel": c, "granted": g, "at": at}
            for (s, c), (g, at) in update.consents.items()
        ),
    )
    await queries.insert_contacts(
        conn,
        (
            {"event_id": uuid.UUID(e), "subject": s, "channel": c, "at": at}
            for e, s, c, at in update.contacts
        ),
    )
    if update.answers:
        await _learn(conn, update.answers)


async def _learn(conn: AsyncConnection, answers: dict[tuple[str, str], tuple[int, int]]) -> None:
    """Accepted/declined answers update the arm of the answering customer's segment."""
    profiles = await queries.profiles_of_subjects(conn, (s for s, _ in answers))
    cards = await queries.cards_of(conn, profiles.values())  # one read, not one per answer
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    for (subject, kind), (accepted, declined) in answers.items():
        profile_id = profiles.get(subject)
        card_row = cards.get(profile_id) if profile_id else None
        segment = segment_of(
            card_row["value_tier"] if card_row else None,
            card_row["lifecycle_stage"] if card_row else None,
        )
        held = totals.get((kind, segment), (0, 0))
        totals[(kind, segment)] = (held[0] + accepted, held[1] + declined)
    await queries.add_arm_answers(
        conn,
        (
            {"kind": k, "segment": s, "alpha": PRIOR.alpha + a, "beta": PRIOR.beta + d}
            for (k, s), (a, d) in totals.items()
        ),
    )


async def _apply_changes(conn: AsyncConnection, changes: Sequence[ProfileChange]) -> set[uuid.UUID]:
    """Identity links, merges, erasures and cards, in order; returns the profiles to re-rank.

    Set-based where order allows: which profiles are erased is read once, the card changes
    and identity links between two merges or erasures are one upsert each (`_Run`), and the
    survivors to re-rank are read once at the end. A busy stream brings card changes and new
    customers' links with most folded batches: a statement for each link (and for the cards
    before it) was two thirds of the fold's time under the event -> offer load."""
    erased = await queries.erased_among(conn, {change.profile_id for change in changes})
    touched: list[uuid.UUID] = []
    run = _Run()
    for change in changes:
        if change.profile_id in erased and not isinstance(change, Erased):
            continue  # a replayed change must not bring an erased customer back
        touched.append(change.profile_id)
        if isinstance(change, CardChanged):
            run.card(change)
        elif isinstance(change, Identified):
            run.link(change.profile_id, change.identifier_hashes)
        else:
            # Merges and erasures rewrite links and rows that a run's writes may touch: the
            # run goes first, then each on its own, in stream order.
            await run.flush(conn)
            if isinstance(change, Merged):
                await queries.merge_profiles(conn, change.profile_id, change.merged_ids)
                await queries.link_identifiers(conn, change.profile_id, change.identifier_hashes)
            elif isinstance(change, Erased):
                ids = [change.profile_id, *change.merged_ids]
                await queries.erase(conn, ids, change.identifier_hashes)
                erased |= set(ids)
                log.info("customer_erased", profile_id=str(change.profile_id))
    await run.flush(conn)
    return set((await queries.survivors_of(conn, touched)).values()) - erased


class _Run:
    """Card changes and identity links between two merges or erasures, written as one upsert
    each: cards and links are different rows, so only the order within each kind matters (the
    newest card of a profile wins, the last link of an identifier wins)."""

    def __init__(self) -> None:
        self.cards: dict[uuid.UUID, CardChanged] = {}
        self.links: dict[str, uuid.UUID] = {}

    def card(self, change: CardChanged) -> None:
        held = self.cards.get(change.profile_id)
        if held is None or change.version >= held.version:
            self.cards[change.profile_id] = change

    def link(self, profile_id: uuid.UUID, hashes: Iterable[str]) -> None:
        for identifier_hash in hashes:
            self.links.pop(identifier_hash, None)  # re-inserted: the last link is the one kept
            self.links[identifier_hash] = profile_id

    async def flush(self, conn: AsyncConnection) -> None:
        await queries.upsert_cards(conn, [_card_row(card) for card in self.cards.values()])
        await queries.link_many(conn, self.links)
        self.cards.clear()
        self.links.clear()


def _card_row(change: CardChanged) -> dict[str, Any]:
    return {
        "profile_id": change.profile_id,
        "version": change.version,
        "value_tier": change.value_tier,
        "lifecycle_stage": change.lifecycle_stage,
        "marketing_consent": dict(change.marketing_consent),
        "open_complaints": change.open_complaints,
        "country": change.country,
    }


async def offers_for(
    conn: AsyncConnection,
    settings: RecommenderSettings,
    profile_id: uuid.UUID,
    now: datetime | None = None,
    *,
    market: MarketReads | None = None,
) -> tuple[uuid.UUID, list[Offer]]:
    """The ranked offers of a customer, by any of their profile ids (merged-away ones too),
    ranked now from their rows (`served_offers` answers from the stored ranking)."""
    ranking = await rank_customers(conn, settings, [profile_id], now, market=market)
    survivor = ranking.survivor_of[profile_id]
    return survivor, ranking.ranked.get(survivor, [])


@dataclass(frozen=True, slots=True)
class Served:
    survivor: uuid.UUID
    offers: list[dict[str, Any]]  # as the API answers, best first
    stored: bool  # from the stored ranking (else ranked live now)


async def served_offers(
    db: Database,
    settings: RecommenderSettings,
    profile_id: uuid.UUID,
    now: datetime | None = None,
    *,
    market: MarketReads | None = None,
) -> Served:
    """GET offers: the customer's stored ranking, by any of their ids, while it is right (no
    fold or change has marked them since, and time alone has not changed it: see
    domain.freshness); otherwise ranked live now and the re-ranker asked to store a ranking."""
    now = now or now_utc()
    async with db.reader() as reader:
        held = await ranked_store.held(reader, profile_id)
    stored = held.serves(now)
    if stored is not None:
        return Served(held.survivor, decode_json(stored), stored=True)
    async with db.connection() as conn:
        ranking = await rank_customers(conn, settings, [profile_id], now, market=market)
    survivor = ranking.survivor_of[profile_id]
    if survivor in ranking.known and not held.stale:
        async with db.transaction() as conn:
            await stale.ask(conn, [survivor])
    return Served(survivor, offers_json(ranking.ranked.get(survivor, [])), stored=False)


@dataclass(frozen=True, slots=True)
class Ranking:
    survivor_of: dict[uuid.UUID, uuid.UUID]  # requested id → its survivor
    ranked: dict[uuid.UUID, list[Offer]]  # survivor → offers, best first (erased: absent)
    valid_until: dict[uuid.UUID, datetime]  # survivor → when time alone could change them
    known: set[uuid.UUID]  # survivors with any identifier or card (worth storing)


async def rank_customers(
    conn: AsyncConnection,
    settings: RecommenderSettings,
    profile_ids: Sequence[uuid.UUID],
    now: datetime | None = None,
    *,
    market: MarketReads | None = None,
) -> Ranking:
    """Rank customers by any of their ids, reading each table once for all of them (the
    re-ranker ranks a chunk at a time); erased customers get none.

    The customers' own rows are always read now; the market (catalogue, popularity,
    neighbours, arms) through `market`: by default read fresh for this call, or a shared one
    that keeps its reads a few seconds (the API's)."""
    now = now or now_utc()
    market = market or MarketReads()
    params = settings.scoring()
    who = await queries.identities(conn, profile_ids)
    survivor_of = who.survivor_of
    live = {s: ids for s, ids in who.members.items() if not ids & who.erased}
    subjects = {
        s: sorted({h for pid in ids for h in who.subjects.get(pid, ())}) for s, ids in live.items()
    }
    every_subject = sorted({h for hs in subjects.values() for h in hs})
    rows = await queries.customer_rows(conn, every_subject)
    since = now - timedelta(days=CONTACT_WINDOW_DAYS)
    presented = await queries.contacts_since(conn, every_subject, since)
    card_rows = await queries.cards_of(conn, live)
    states = {
        s: _state([rows.get(h, {}) for h in hs], [p for h in hs for p in presented.get(h, ())])
        for s, hs in subjects.items()
    }
    histories = {
        s: history_of(merge_items(state.items), params.max_history) for s, state in states.items()
    }
    # A customer with an open complaint gets no sales offer (next_best_offers): their items'
    # neighbours are not read. The at-once lane ranks complaints: under load reading those
    # neighbours was most of its time.
    selling = [histories[s] for s, state in states.items() if not open_complaints(state)]
    bought = {h.sku for hs in selling for h in hs if h.touch is Touch.BOUGHT}
    viewed = {h.sku for hs in selling for h in hs if h.touch is Touch.VIEWED}
    shop = await market.shop(conn)
    similar_of = await market.similar(
        conn, {"bought": sorted(bought), "viewed": sorted(viewed)}, params.shrink, params.neighbours
    )
    bought_similar, viewed_similar = similar_of["bought"], similar_of["viewed"]
    cards = {s: _card(card_rows.get(s), states[s].country) for s in live}
    local = await market.country_top(conn, {c.country for c in cards.values() if c.country})
    segments = {s: segment_of(c.value_tier, c.lifecycle_stage) for s, c in cards.items()}
    ranked: dict[uuid.UUID, list[Offer]] = {}
    for survivor, state in states.items():
        # Let the event loop run between customers (a fold re-ranks hundreds) so that Kafka
        # heartbeats and HTTP requests are not starved.
        await asyncio.sleep(0)
        history = histories[survivor]
        similar_to = {
            h.sku: s
            for h in history
            if (s := (bought_similar if h.touch is Touch.BOUGHT else viewed_similar).get(h.sku))
        }
        card = cards[survivor]
        posteriors: dict[Kind, Posterior] = {
            Kind(kind): posterior
            for kind, posterior in shop.arms.get(segments[survivor], {}).items()
            if kind in Kind.__members__.values()
        }
        market_now = Market(
            similar_to,
            shop.overall,
            local.get(card.country or "", {}),
            shop.trending,
            shop.names,
            shop.reorders,
        )
        ranked[survivor] = next_best_offers(
            state, card, market_now, posteriors, now, params, settings.policy(), salt=str(survivor)
        )
    max_age = timedelta(hours=settings.ranking_max_age_hours)
    return Ranking(
        survivor_of,
        ranked,
        {
            s: valid_until(states[s], ranked[s], now, params, settings.policy(), max_age)
            for s in ranked
        },
        {s for s in live if subjects[s] or s in card_rows},
    )


def _card(row: dict[str, Any] | None, seen_country: str | None) -> Card:
    return Card(
        value_tier=row["value_tier"] if row else None,
        lifecycle_stage=row["lifecycle_stage"] if row else None,
        marketing_consent=row["marketing_consent"] if row else {},
        country=seen_country or (row["country"] if row else None),
    )


def _state(
    by_subject: Sequence[dict[str, list[dict[str, Any]]]], presented: list[tuple[str, datetime]]
) -> CustomerState:
    rows: dict[str, list[dict[str, Any]]] = {}
    for tables in by_subject:
        for name, found in tables.items():
            rows.setdefault(name, []).extend(found)
    customers = rows.get("customers", [])
    carts = sorted(rows.get("carts", []), key=lambda r: r["updated_at"])
    order_times = [r["last_order_at"] for r in customers if r["last_order_at"]]
    countries = sorted((r for r in customers if r["country"]), key=lambda r: r["last_seen_at"])
    return CustomerState(
        items=[
            ItemState(
                r["sku"],
                r["last_bought_at"],
                r["last_viewed_at"],
                r["returned_at"],
                r["declines"],
                r["last_declined_at"],
                r["units"],
                r["orders"],
            )
            for r in rows.get("items", [])
        ],
        last_order_at=max(order_times, default=None),
        country=countries[-1]["country"] if countries else None,
        cart=(carts[-1]["skus"], carts[-1]["updated_at"]) if carts else None,
        complaints=[
            (r["case_id"], r["opened_at"], r["resolved_at"]) for r in rows.get("complaints", [])
        ],
        consents=[
            ConsentEntry(r["channel"], r["granted"], r["at"]) for r in rows.get("consents", [])
        ],
        presented=presented,
    )


def offer_json(profile_id: uuid.UUID, offer: Offer | None) -> dict[str, Any]:
    """The offers topic's message for a customer's (new) best offer."""
    return {
        "profile_id": str(profile_id),
        "offer": None
        if offer is None
        else {**_offer_fields(offer), "expires_at": offer.expires_at.isoformat()},
    }


def offers_json(offers: Sequence[Offer]) -> list[dict[str, Any]]:
    """Offers as GET offers answers them (times as its response model writes them: `Z`)."""
    return [
        {**_offer_fields(o), "expires_at": o.expires_at.isoformat().replace("+00:00", "Z")}
        for o in offers
    ]


def _offer_fields(offer: Offer) -> dict[str, Any]:
    return {
        "offer_id": offer.offer_id,
        "kind": offer.kind.value,
        "items": list(offer.items),
        "score": offer.score,
        "reason": offer.reason,
        "channel": offer.channel,
    }


def stored_ranking(ranking: Ranking, profile_id: uuid.UUID, now: datetime) -> ranked_store.Ranking:
    """A customer's ranking as the store keeps it for GET offers."""
    return ranked_store.Ranking(
        profile_id,
        encode_json(offers_json(ranking.ranked[profile_id])),
        now,
        ranking.valid_until[profile_id],
    )


async def record_best(
    conn: AsyncConnection,
    ranked: Mapping[uuid.UUID, Sequence[Offer]],
    profile_ids: Sequence[uuid.UUID],
) -> int:
    """Queue (outbox) the customers among `profile_ids` whose best offer changed; returns
    how many. A customer absent from `ranked` has no offers (erased, or nothing to offer)."""
    if not profile_ids:
        return 0
    held = await queries.best_signatures(conn, profile_ids)
    changed = []
    for profile_id in sorted(set(profile_ids)):
        offers = ranked.get(profile_id, [])
        best = offers[0] if offers else None
        signature = best.signature if best else None
        if profile_id in held and held[profile_id] == signature:
            continue
        if profile_id not in held and best is None:
            continue
        changed.append(
            {
                "profile_id": profile_id,
                "signature": signature,
                "offer": offer_json(profile_id, best),
            }
        )
    await queries.set_best(conn, changed)
    return len(changed)


async def forget_old_contacts(db: Database, now: datetime | None = None) -> None:
    """Contacts only count within the weekly cap's window: older rows are dead weight."""
    since = (now or now_utc()) - timedelta(days=CONTACT_WINDOW_DAYS + 1)
    async with db.transaction() as conn:
        await queries.forget_contacts_before(conn, since)


async def publish_changed_offers(
    db: Database, publisher: Publisher, topic: str, among: Sequence[uuid.UUID] | None = None
) -> int:
    """Send the queued best offers (after their transaction committed), of `among` only if
    given; mark them sent."""
    async with db.reader() as reader:
        pending = await queries.unpublished(reader, 1000, among)
    if not pending:
        return 0
    # Compact, as every other message (the column's own text has spaces after each colon).
    await publisher.publish_many(
        topic,
        [
            (str(row["profile_id"]).encode(), encode_json(decode_json(row["offer"])), ())
            for row in pending
        ],
    )
    async with db.transaction() as conn:
        await queries.mark_published(
            conn, {row["profile_id"]: row["updated_at"] for row in pending}
        )
    return len(pending)
