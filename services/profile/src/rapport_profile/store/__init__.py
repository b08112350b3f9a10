"""The profile store: tables, queries and migrations. The only module that knows SQL."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
