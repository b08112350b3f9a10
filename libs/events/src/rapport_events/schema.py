"""The JSON Schema of the event contract, for senders that are not written in Python.

`make schema` writes it to libs/events/schema/; a test keeps the checked-in copy current.
"""

from __future__ import annotations

import json
from typing import Any

from rapport_events.envelope import EVENT_ADAPTER

SCHEMA_ID = "https://rapport.dev/schemas/touchpoint-event.v1.json"


def touchpoint_schema() -> dict[str, Any]:
    """The schema of what a sender posts (validation mode: what we accept)."""
    schema = EVENT_ADAPTER.json_schema(mode="validation", ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Rapport touchpoint event (v1)",
        "description": (
            "One customer interaction on any channel. `type` selects the shape of `properties`; "
            "at least one `identity` field is required."
        ),
        **schema,
    }


def render() -> str:
    return json.dumps(touchpoint_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
