"""The profile store: profiles, identities, interactions, dedupe, tombstones, erasures.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("profile_id", sa.Uuid, primary_key=True),
        sa.Column("merged_into", sa.Uuid, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("first_seen", TS),
        sa.Column("last_seen", TS),
        sa.Column("orders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("revenue", sa.Numeric, nullable=False, server_default="0"),
        sa.Column("refunds", sa.Numeric, nullable=False, server_default="0"),
        sa.Column("last_order_at", TS),
        sa.Column("lifecycle_stage", sa.Text),
        sa.Column("lifecycle_why", sa.Text),
        sa.Column("value_tier", sa.Text),
        sa.Column("recency_score", sa.SmallInteger),
        sa.Column("frequency_score", sa.SmallInteger),
        sa.Column("monetary_score", sa.SmallInteger),
        sa.Column("scores_at", TS),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("state", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index(
        "profiles_merged_into",
        "profiles",
        ["merged_into"],
        postgresql_where=sa.text("merged_into IS NOT NULL"),
    )
    op.create_table(
        "identities",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.Uuid, nullable=False),
        sa.Column("first_seen", TS, nullable=False),
    )
    op.create_index("ix_identities_profile_id", "identities", ["profile_id"])
    op.create_table("processed_events", sa.Column("event_id", sa.Uuid, primary_key=True))
    op.create_table(
        "interactions",
        sa.Column("profile_id", sa.Uuid, primary_key=True),
        sa.Column("occurred_at", TS, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("amount", sa.Numeric, nullable=True),
    )
    op.create_index(
        "interactions_money",
        "interactions",
        ["occurred_at"],
        postgresql_where=sa.text("amount IS NOT NULL"),
    )
    op.create_table(
        "tombstones",
        sa.Column("identifier_hash", sa.Text, primary_key=True),
        sa.Column("erased_at", TS, nullable=False),
    )
    op.create_table(
        "erasures",
        sa.Column("profile_id", sa.Uuid, primary_key=True),
        sa.Column("erased_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "erasures",
        "tombstones",
        "interactions",
        "processed_events",
        "identities",
        "profiles",
    ):
        op.drop_table(table)
