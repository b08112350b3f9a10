"""The re-ranking work queue: customers whose offers must be ranked again.

Revision ID: 0002
Revises: 0001

The fold marks customers here instead of ranking them inside its own transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stale_offers",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "marked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("claim", sa.Uuid(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_index("stale_offers_by_age", "stale_offers", ["marked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("stale_offers_by_age", table_name="stale_offers")
    op.drop_table("stale_offers")
