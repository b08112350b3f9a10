"""A stale mark says how soon a rule must act on what changed: at once (a complaint, a
consent), soon (an answer to an offer, a purchase or a return) or in turn. The at-once marks
have a re-ranking lane of their own; `urgent` marks become `soon` ones.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stale_offers",
        sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE stale_offers SET priority = 1 WHERE urgent")
    op.drop_index("stale_offers_by_urgency", table_name="stale_offers")
    op.drop_column("stale_offers", "urgent")
    op.create_index(
        "stale_offers_by_priority", "stale_offers", [sa.text("priority DESC"), "marked_at"]
    )


def downgrade() -> None:
    op.drop_index("stale_offers_by_priority", table_name="stale_offers")
    op.add_column(
        "stale_offers",
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute("UPDATE stale_offers SET urgent = priority > 0")
    op.drop_column("stale_offers", "priority")
    op.create_index(
        "stale_offers_by_urgency", "stale_offers", [sa.text("urgent DESC"), "marked_at"]
    )
