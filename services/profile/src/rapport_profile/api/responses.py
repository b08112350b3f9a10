"""JSON bodies for the hot read paths, serialised once by orjson.

A route returns `json_body(document)` and keeps `response_model=` in its decorator: the
OpenAPI still documents the model, and FastAPI skips validating and re-serialising a
`Response`. The document must already have the model's shape (unit tests compare the bytes
with the model's own serialisation).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import Response

# pydantic writes UTC as `Z`; so does orjson with this option.
_OPTIONS = orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not take as a UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(document: Any) -> bytes:
    return orjson.dumps(document, default=_default, option=_OPTIONS)


def json_body(document: Any) -> Response:
    return Response(dumps(document), media_type="application/json")
