"""The recommender's tables (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, Uuid, func

metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

item_popularity = Table(
    "item_popularity",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=True),
    Column("purchases", BigInteger, nullable=False),
)
