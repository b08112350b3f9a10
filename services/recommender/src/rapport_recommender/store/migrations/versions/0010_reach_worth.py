"""An item's worth in the reach order is not always a whole number: the items that reach
nobody new follow at half the worth of the one before (domain.reach). As a bigint they were
stored as 0, and never offered.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("popular_reach", "reach", type_=sa.Float(), existing_nullable=False)
    # The order is redone from customer_items at the next refresh: what is held is stale.
    op.execute("DELETE FROM popular_reach")


def downgrade() -> None:
    op.alter_column(
        "popular_reach",
        "reach",
        type_=sa.BigInteger(),
        existing_nullable=False,
        postgresql_using="round(reach)::bigint",
    )
