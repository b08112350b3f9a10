"""The checked-in JSON Schema is the one the contract generates (`make schema` refreshes it)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from rapport_events.schema import render, touchpoint_schema

CHECKED_IN = Path(__file__).parents[2] / "schema" / "touchpoint-event.schema.json"


def test_checked_in_schema_is_current() -> None:
    assert CHECKED_IN.read_text() == render(), "run `make schema` and commit the result"


def test_schema_validates_what_the_models_accept_and_refuses_what_they_refuse() -> None:
    validator = jsonschema.Draft202012Validator(touchpoint_schema())
    good = {
        "type": "cart_updated",
        "channel": "web",
        "occurred_at": "2026-11-23T10:00:00Z",
        "identity": {"anonymous_id": "a-1"},
        "properties": {"cart_id": "c-1", "items": []},
    }
    assert not list(validator.iter_errors(good))
    bad = {**good, "properties": {"items": []}}
    assert list(validator.iter_errors(bad))
    assert list(validator.iter_errors({**good, "type": "teleported"}))
    json.dumps(touchpoint_schema())  # serialisable as is
