"""The recommender's state: per-customer facts, item statistics, bandit arms, identity links.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

from alembic import op

from rapport_recommender.store.tables import metadata

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # The first revision is the tables as declared; later ones spell out their changes.
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
