"""Items count the orders that held them (orders per buyer: how often an item is re-ordered),
filled for existing rows from the customers' own order counts.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("items", sa.Column("orders", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        "UPDATE items SET orders = held.orders"
        " FROM (SELECT sku, sum(orders) AS orders FROM customer_items GROUP BY sku) AS held"
        " WHERE items.sku = held.sku"
    )


def downgrade() -> None:
    op.drop_column("items", "orders")
