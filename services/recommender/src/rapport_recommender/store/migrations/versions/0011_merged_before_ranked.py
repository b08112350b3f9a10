"""The ordinary re-ranker no longer merges pending pairs itself before each chunk: a merger
runs beside it, and a mark is claimed once every batch folded before it is merged. For that a
mark records when a fold last renewed it (`renewed_at`; `marked_at` stays the first, for the
order of claims) and a pending batch when it was folded (`created_at`): both are the folding
transaction's `now()`. `generation`, unused since marks are renewed by ending their lease, goes.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get the migration's now() on both sides: a mark waits for the batches
    # pending now to be merged, as it would have behind the merge of the old step.
    op.add_column(
        "stale_offers",
        sa.Column(
            "renewed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.add_column(
        "pending_pairs",
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.drop_column("stale_offers", "generation")


def downgrade() -> None:
    op.add_column(
        "stale_offers",
        sa.Column("generation", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.drop_column("pending_pairs", "created_at")
    op.drop_column("stale_offers", "renewed_at")
