"""(De)serialisation of events on the wire: compact JSON, validated by the contract models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from rapport_events.envelope import EVENT_ADAPTER, TouchpointEvent

# The headers of a touchpoint record: a consumer may choose records by them without parsing
# the value (the recommender's express lane takes only complaints and consents).
EVENT_TYPE_HEADER = "event-type"
Header = tuple[str, bytes]


def event_headers(event: TouchpointEvent, source: str) -> list[Header]:
    """`event-id`, `event-type` and `source` (the API key that sent it)."""
    return [
        ("event-id", str(event.event_id).encode()),
        (EVENT_TYPE_HEADER, event.type.encode()),
        ("source", source.encode()),
    ]


def header(headers: Sequence[Header], name: str) -> bytes | None:
    """The first value of a header, if the record has it."""
    for key, value in headers:
        if key == name:
            return value
    return None


def encode_event(event: TouchpointEvent) -> bytes:
    """The Kafka value of an event. `exclude_none` keeps messages small."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


def decode_event(value: bytes) -> TouchpointEvent:
    """Parse and validate one Kafka value; raises pydantic.ValidationError on a bad one."""
    return EVENT_ADAPTER.validate_json(value)


def encode_json(data: Any) -> bytes:
    """Any other message (profile changes, offers): plain JSON with no pydantic models."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def decode_json(value: bytes) -> Any:
    return orjson.loads(value)
