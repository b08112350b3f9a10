from alembic import context

from rapport_events.db import run_migrations_online
from rapport_recommender.store.tables import metadata

run_migrations_online(metadata, context.config.get_main_option("sqlalchemy.url") or "")
