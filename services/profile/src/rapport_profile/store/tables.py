"""The profile store's tables (SQLAlchemy Core: folding is set-based, not object-based).

- `profiles`: one row per profile; the columns the base is ranked and filtered by, and the
  rest of the folded state (traits, consent, cases, channel counts) as one JSONB document.
  A merged-away profile keeps its row with `merged_into` set (always the final survivor).
- `identities`: every known identifier, normalised, and the (surviving) profile it belongs to.
- `interactions`: the dialogue history; the primary key doubles as the newest-first index
  that keyset pagination walks backwards.
- `processed_events`: the event ids already folded (dedupe in the fold's own transaction).
- `tombstones` and `erasures`: what erasure leaves behind, with no personal data: hashed
  identifiers that the fold must keep ignoring, and the erased profile ids with the date.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

profiles = Table(
    "profiles",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("merged_into", Uuid, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("first_seen", DateTime(timezone=True)),
    Column("last_seen", DateTime(timezone=True)),
    Column("orders", Integer, nullable=False, server_default="0"),
    Column("revenue", Numeric, nullable=False, server_default="0"),
    Column("refunds", Numeric, nullable=False, server_default="0"),
    Column("last_order_at", DateTime(timezone=True)),
    Column("lifecycle_stage", Text),
    Column("lifecycle_why", Text),
    Column("value_tier", Text),
    Column("recency_score", SmallInteger),
    Column("frequency_score", SmallInteger),
    Column("monetary_score", SmallInteger),
    Column("scores_at", DateTime(timezone=True)),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("state", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
)
Index(
    "profiles_merged_into",
    profiles.c.merged_into,
    postgresql_where=profiles.c.merged_into.isnot(None),
)

identities = Table(
    "identities",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("profile_id", Uuid, nullable=False, index=True),
    Column("first_seen", DateTime(timezone=True), nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
)

interactions = Table(
    "interactions",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", JSONB, nullable=False),
    # Signed effect on revenue (+ purchase total, − refund); NULL for everything else.
    Column("amount", Numeric, nullable=True),
)
Index(
    "interactions_money",
    interactions.c.occurred_at,
    postgresql_where=interactions.c.amount.isnot(None),
)

tombstones = Table(
    "tombstones",
    metadata,
    Column("identifier_hash", Text, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

erasures = Table(
    "erasures",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# The fold state a replay rebuilds; tombstones and erasures are kept.
FOLD_STATE = (profiles, identities, processed_events, interactions)
