"""How many orders held each item of a customer (the frequency behind "buy it again"), and
an index to forget old contacts by time.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # 0001 creates the tables as declared now (so a fresh database already has the column);
    # rows folded before this revision count as one order (a lower bound, never zero).
    op.execute(
        "ALTER TABLE customer_items ADD COLUMN IF NOT EXISTS orders integer NOT NULL DEFAULT 0"
    )
    op.execute("UPDATE customer_items SET orders = 1 WHERE last_bought_at IS NOT NULL")
    op.execute("CREATE INDEX IF NOT EXISTS contacts_by_time ON contacts (at)")


def downgrade() -> None:
    op.drop_index("contacts_by_time", "contacts")
    op.drop_column("customer_items", "orders")
