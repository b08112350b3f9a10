"""The profile store's tables (SQLAlchemy Core: folding is set-based, not object-based)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

profiles = Table(
    "profiles",
    metadata,
    Column("profile_id", Uuid, primary_key=True),
    # Set when this profile was merged into another: the id keeps answering with the survivor.
    Column("merged_into", Uuid, ForeignKey("profiles.profile_id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("last_seen", DateTime(timezone=True), nullable=True),
)

identities = Table(
    "identities",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("profile_id", Uuid, ForeignKey("profiles.profile_id"), nullable=False, index=True),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

interactions = Table(
    "interactions",
    metadata,
    Column("profile_id", Uuid, ForeignKey("profiles.profile_id"), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", JSONB, nullable=False),
)

Index("interactions_newest_first", interactions.c.profile_id, interactions.c.occurred_at.desc())
