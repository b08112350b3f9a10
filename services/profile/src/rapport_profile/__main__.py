"""`python -m rapport_profile` (or `rapport-profile`): serve, migrate."""

from __future__ import annotations

import argparse

from rapport_events.db import upgrade_schema
from rapport_events.service import serve
from rapport_profile.api.app import build_app
from rapport_profile.settings import ProfileSettings
from rapport_profile.store import MIGRATIONS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rapport-profile", description=__doc__)
    parser.add_argument(
        "command",
        choices=["serve", "api", "migrate"],
        nargs="?",
        default="serve",
        help="serve: API and stream fold; api: API only; migrate: upgrade the schema",
    )
    args = parser.parse_args(argv)
    settings = ProfileSettings()
    if args.command == "migrate":
        upgrade_schema(MIGRATIONS, settings.database.database_url.get_secret_value())
        return
    if args.command == "api":
        settings = settings.model_copy(update={"consumer_enabled": False})
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
