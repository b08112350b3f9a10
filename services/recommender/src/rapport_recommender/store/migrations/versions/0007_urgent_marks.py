"""A stale mark says whether a rule acts on what changed (a complaint, a consent, an answer to
an offer, a purchase or a return): those customers are ranked again first.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stale_offers",
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.drop_index("stale_offers_by_age", table_name="stale_offers")
    op.create_index(
        "stale_offers_by_urgency", "stale_offers", [sa.text("urgent DESC"), "marked_at"]
    )


def downgrade() -> None:
    op.drop_index("stale_offers_by_urgency", table_name="stale_offers")
    op.create_index("stale_offers_by_age", "stale_offers", ["marked_at"])
    op.drop_column("stale_offers", "urgent")
