"""Profiles, identities, processed events and the interaction timeline.

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


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("profile_id", sa.Uuid, primary_key=True),
        sa.Column("merged_into", sa.Uuid, sa.ForeignKey("profiles.profile_id"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "identities",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
        sa.Column(
            "profile_id", sa.Uuid, sa.ForeignKey("profiles.profile_id"), nullable=False, index=True
        ),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "interactions",
        sa.Column("profile_id", sa.Uuid, sa.ForeignKey("profiles.profile_id"), primary_key=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False),
    )
    op.create_index(
        "interactions_newest_first",
        "interactions",
        ["profile_id", sa.text("occurred_at DESC")],
    )


def downgrade() -> None:
    op.drop_table("interactions")
    op.drop_table("processed_events")
    op.drop_table("identities")
    op.drop_table("profiles")
