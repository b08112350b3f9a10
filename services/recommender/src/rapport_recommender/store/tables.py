"""The recommender's tables (SQLAlchemy Core).

Per-customer state is keyed by `subject`: the identifier hash of an event's strongest
identifier (the message key rule). `aliases` (fed by the profile service's identified/merged
changes) maps subjects to profile ids and `profile_links` maps merged-away profile ids to the
survivor, so that reading offers for any id of a customer gathers every subject of theirs.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# --- per customer (subject) --------------------------------------------------------------------

customer_items = Table(
    "customer_items",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("sku", Text, primary_key=True),
    Column("last_bought_at", DateTime(timezone=True)),
    Column("units", BigInteger, nullable=False, server_default="0"),
    Column("orders", Integer, nullable=False, server_default="0"),
    Column("last_viewed_at", DateTime(timezone=True)),
    Column("returned_at", DateTime(timezone=True)),
    Column("declines", Integer, nullable=False, server_default="0"),
    Column("last_declined_at", DateTime(timezone=True)),
)

customers = Table(
    "customers",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_order_at", DateTime(timezone=True)),
    Column("country", Text),
)

carts = Table(
    "carts",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("skus", ARRAY(Text), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

complaints = Table(
    "complaints",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("case_id", Text, primary_key=True),
    Column("opened_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
)

consents = Table(
    "consents",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("granted", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("contacts_by_subject", "subject", "at"),
    Index("contacts_by_time", "at"),  # forgetting old contacts
)

# --- shared, not personal ----------------------------------------------------------------------

items = Table(
    "items",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text),
    Column("buyers", BigInteger, nullable=False, server_default="0"),
    Column("viewers", BigInteger, nullable=False, server_default="0"),
    Column("units", BigInteger, nullable=False, server_default="0"),
    Column("orders", BigInteger, nullable=False, server_default="0"),  # orders that held it
    Column("trend", Float, nullable=False, server_default="0"),
    Index("items_by_buyers", "buyers"),
    Index("items_by_trend", "trend"),
)

# The most bought items in reach order (domain.reach), redone on a schedule (store.reach).
popular_reach = Table(
    "popular_reach",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("reach", Float, nullable=False),  # customers newly reached, or a halving worth
    Column("refreshed_at", DateTime(timezone=True), nullable=False),
)

item_countries = Table(
    "item_countries",
    metadata,
    Column("country", Text, primary_key=True),
    Column("sku", Text, primary_key=True),
    Column("units", BigInteger, nullable=False),
    Index("item_countries_by_units", "country", "units"),
)

item_pairs = Table(
    "item_pairs",
    metadata,
    Column("kind", Text, primary_key=True),  # "bought" or "viewed"
    Column("a", Text, primary_key=True),
    Column("b", Text, primary_key=True),
    Column("together", BigInteger, nullable=False),
    Index("item_pairs_neighbours", "kind", "a", "together"),
)

arms = Table(
    "arms",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("segment", Text, primary_key=True),
    Column("alpha", Float, nullable=False),
    Column("beta", Float, nullable=False),
)

# --- identity, from the profile service --------------------------------------------------------

aliases = Table(
    "aliases",
    metadata,
    Column("identifier_hash", Text, primary_key=True),
    Column("profile_id", Uuid, nullable=False, index=True),
)

profile_links = Table(
    "profile_links",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("survivor_id", Uuid, nullable=False, index=True),
)

cards = Table(
    "cards",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("value_tier", Text),
    Column("lifecycle_stage", Text),
    Column("marketing_consent", JSONB, nullable=False),
    Column("open_complaints", Integer, nullable=False),
    Column("country", Text),
)

tombstones = Table(
    "tombstones",
    metadata,
    Column("identifier_hash", Text, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

erased_profiles = Table(
    "erased_profiles",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# --- the outbox of "the best offer changed" ----------------------------------------------------

best_offers = Table(
    "best_offers",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("signature", Text),
    Column("offer", JSONB),
    Column("published", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("best_offers_unpublished", "published"),
)

# --- each customer's ranked offers, as the re-ranker last ranked them ----------------------------

# What GET offers answers with (one indexed read instead of ranking per request). `offers` is the
# JSON list the API returns, best first; `valid_until` the moment time alone could change it
# (domain.freshness), NULL once the re-ranker has been asked to rank it again. Written by the
# re-ranker only (with best_offers, under the customer's stale mark); deleted with the profile
# id when it is merged away or erased.
ranked_offers = Table(
    "ranked_offers",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("offers", LargeBinary, nullable=False),
    Column("ranked_at", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True)),
    Index("ranked_offers_by_validity", "valid_until"),
)

# --- the work queue of customers whose offers must be ranked again ------------------------------

# A fold marks the customers it touched (in its own transaction, so the mark is as durable as
# the facts); the re-ranker claims marks for a short lease, ranks, and clears a mark only if no
# fold renewed it meanwhile (see store.stale). Keyed by profile id: repeated events coalesce
# into one row, first marked at `marked_at` (the order of claims), last renewed at `renewed_at`
# (the ordinary lane claims it once every pair batch folded before then is merged).
stale_offers = Table(
    "stale_offers",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("marked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("renewed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("claim", Uuid),
    Column("claimed_until", DateTime(timezone=True)),
    # How soon a rule must act on what changed (domain.facts.Priority): ranked again first.
    Column("priority", SmallInteger, nullable=False, server_default="0"),
    Index("stale_offers_by_priority", text("priority DESC"), "marked_at"),
)

# Co-occurrence increments folded but not yet added to item_pairs: one row per batch, written
# by the fold in its own transaction and applied by the pair merger, which deletes what it adds
# in one transaction (exactly once). `payload` is the batch's unexpanded baskets as a JSON
# array of [kind, fresh skus, recent skus] (see domain.fold.CoBasket): the merger expands them
# into pairs in SQL, so the fold never builds the tens of thousands of pairs of a batch.
pending_pairs = Table(
    "pending_pairs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("payload", JSON, nullable=False),
    # The folding transaction's now(), as its marks' `renewed_at`: what those marks wait for.
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
