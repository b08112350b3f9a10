"""Pending co-occurrence increments as one JSON payload per batch: its unexpanded baskets.

Four parallel arrays of tens of thousands of pairs cost the fold more to build and encode
than the database took to store them; the baskets (fresh and recent skus) are a few skus
each, one string encoded in C, and the merger expands them in SQL. Rows already waiting are
converted: a pair a < b counted n times is n baskets (fresh [a], recent [b]).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pending_pairs", sa.Column("payload", sa.JSON(), nullable=True))
    op.execute(
        """
        UPDATE pending_pairs SET payload = coalesce(
            (SELECT json_agg(json_build_array(u.kind, json_build_array(u.a), json_build_array(u.b)))
             FROM unnest(kinds, a, b, together) AS u(kind, a, b, together),
                  generate_series(1, u.together)
             WHERE u.a < u.b),
            '[]'::json)
        """
    )
    op.alter_column("pending_pairs", "payload", nullable=False)
    for column in ("kinds", "a", "b", "together"):
        op.drop_column("pending_pairs", column)


def downgrade() -> None:
    op.execute("DELETE FROM pending_pairs")  # increments not yet merged are lost going back
    op.drop_column("pending_pairs", "payload")
    for column, kind in (
        ("kinds", sa.Text()),
        ("a", sa.Text()),
        ("b", sa.Text()),
        ("together", sa.BigInteger()),
    ):
        op.add_column(
            "pending_pairs", sa.Column(column, sa.dialects.postgresql.ARRAY(kind), nullable=False)
        )
