"""`python -m rapport_ingest` (or `rapport-ingest`): serve the ingest API."""

from __future__ import annotations

import argparse

from rapport_events.service import serve
from rapport_ingest.api.app import build_app
from rapport_ingest.settings import IngestSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rapport-ingest", description=__doc__)
    parser.add_argument("command", choices=["serve"], nargs="?", default="serve")
    parser.parse_args(argv)
    settings = IngestSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
