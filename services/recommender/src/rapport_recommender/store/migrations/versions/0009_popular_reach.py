"""The popular items in reach order (each next one reaches the most buyers the ones before
it do not), redone on a schedule by the re-ranking processes.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "popular_reach",
        sa.Column("sku", sa.Text(), primary_key=True),
        sa.Column("reach", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("popular_reach")
