"""The recommender's state: per-customer facts, item statistics, bandit arms, identity links.

Revision ID: 0001
Revises:

Spelled out table by table (generated once by Alembic's autogenerate, then frozen): a revision
must mean the same schema forever, whatever the tables in code become later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aliases",
        sa.Column("identifier_hash", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("identifier_hash"),
    )
    op.create_index(op.f("ix_aliases_profile_id"), "aliases", ["profile_id"], unique=False)
    op.create_table(
        "arms",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("beta", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "segment"),
    )
    op.create_table(
        "best_offers",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("offer", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("published", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_index("best_offers_unpublished", "best_offers", ["published"], unique=False)
    op.create_table(
        "cards",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("value_tier", sa.Text(), nullable=True),
        sa.Column("lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("marketing_consent", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("open_complaints", sa.Integer(), nullable=False),
        sa.Column("country", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_table(
        "carts",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("skus", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "complaints",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", "case_id"),
    )
    op.create_table(
        "consents",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "channel"),
    )
    op.create_table(
        "contacts",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("contacts_by_subject", "contacts", ["subject", "at"], unique=False)
    op.create_index("contacts_by_time", "contacts", ["at"], unique=False)
    op.create_table(
        "customer_items",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("last_bought_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", "sku"),
    )
    op.create_table(
        "customers",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "erased_profiles",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_table(
        "item_countries",
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("country", "sku"),
    )
    op.create_index("item_countries_by_units", "item_countries", ["country", "units"], unique=False)
    op.create_table(
        "item_pairs",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("a", sa.Text(), nullable=False),
        sa.Column("b", sa.Text(), nullable=False),
        sa.Column("together", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "a", "b"),
    )
    op.create_index("item_pairs_neighbours", "item_pairs", ["kind", "a", "together"], unique=False)
    op.create_table(
        "items",
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("buyers", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("viewers", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trend", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_index("items_by_buyers", "items", ["buyers"], unique=False)
    op.create_index("items_by_trend", "items", ["trend"], unique=False)
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "profile_links",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_index(
        op.f("ix_profile_links_survivor_id"), "profile_links", ["survivor_id"], unique=False
    )
    op.create_table(
        "tombstones",
        sa.Column("identifier_hash", sa.Text(), nullable=False),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("identifier_hash"),
    )


def downgrade() -> None:
    op.drop_table("tombstones")
    op.drop_index(op.f("ix_profile_links_survivor_id"), table_name="profile_links")
    op.drop_table("profile_links")
    op.drop_table("processed_events")
    op.drop_index("items_by_trend", table_name="items")
    op.drop_index("items_by_buyers", table_name="items")
    op.drop_table("items")
    op.drop_index("item_pairs_neighbours", table_name="item_pairs")
    op.drop_table("item_pairs")
    op.drop_index("item_countries_by_units", table_name="item_countries")
    op.drop_table("item_countries")
    op.drop_table("erased_profiles")
    op.drop_table("customers")
    op.drop_table("customer_items")
    op.drop_index("contacts_by_time", table_name="contacts")
    op.drop_index("contacts_by_subject", table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("consents")
    op.drop_table("complaints")
    op.drop_table("carts")
    op.drop_table("cards")
    op.drop_index("best_offers_unpublished", table_name="best_offers")
    op.drop_table("best_offers")
    op.drop_table("arms")
    op.drop_index(op.f("ix_aliases_profile_id"), table_name="aliases")
    op.drop_table("aliases")
