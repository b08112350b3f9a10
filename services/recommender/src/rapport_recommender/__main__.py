"""`python -m rapport_recommender` (or `rapport-recommender`): serve, api, work, express,
migrate."""

from __future__ import annotations

import argparse
import os

from rapport_events.db import upgrade_schema
from rapport_events.service import serve
from rapport_recommender.api.app import build_app
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store import MIGRATIONS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rapport-recommender", description=__doc__)
    parser.add_argument(
        "command",
        choices=["serve", "api", "work", "express", "migrate"],
        nargs="?",
        default="serve",
        help=(
            "serve: API, stream fold and background work; api: API only; work: API and"
            " background work (re-ranking, pair merging) only; express: API, live complaints"
            " and consents folded ahead of the stream and ranked at once; migrate: upgrade"
            " the schema"
        ),
    )
    args = parser.parse_args(argv)
    settings = RecommenderSettings()
    if args.command == "migrate":
        upgrade_schema(MIGRATIONS, settings.database.database_url.get_secret_value())
        return
    if args.command == "api":
        settings = settings.model_copy(
            update={"consumer_enabled": False, "background_enabled": False}
        )
    if args.command == "work":
        settings = settings.model_copy(update={"consumer_enabled": False})
    if args.command == "express":
        settings = settings.model_copy(update={"express": True, "ordinary_lane_enabled": False})
    if settings.niceness:
        os.nice(settings.niceness)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
