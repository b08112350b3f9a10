"""Each customer's ranked offers as the re-ranker last ranked them (what GET offers serves).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ranked_offers",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("offers", sa.LargeBinary(), nullable=False),
        sa.Column("ranked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_index("ranked_offers_by_validity", "ranked_offers", ["valid_until"])


def downgrade() -> None:
    op.drop_index("ranked_offers_by_validity", table_name="ranked_offers")
    op.drop_table("ranked_offers")
