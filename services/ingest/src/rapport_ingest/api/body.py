"""Reading a request body within a byte limit, and the shared error answers of the intake API.

The limit is enforced while the body streams in: a declared Content-Length over the limit is
refused before reading anything, and a chunked body is cut off at the first byte past it, so a
sender can never make ingest buffer more than the limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any, NoReturn

import orjson
from fastapi import HTTPException, Request, status

from rapport_ingest.domain.admission import Problem, Reason, Refused

JSON = "application/json"

STATUS_BY_REASON = {
    Reason.MALFORMED: status.HTTP_400_BAD_REQUEST,
    Reason.TOO_LARGE: status.HTTP_413_CONTENT_TOO_LARGE,
    Reason.FORBIDDEN_CHANNEL: status.HTTP_403_FORBIDDEN,
}


def fail(status_code: int, message: str, problems: list[Problem] | None = None) -> NoReturn:
    detail: dict[str, Any] = {"message": message}
    if problems:
        detail["problems"] = [{"field": p.field, "reason": p.reason} for p in problems]
    raise HTTPException(status_code, detail=detail)


def refuse(refused: Refused) -> NoReturn:
    """A refused single event as its HTTP answer."""
    code = STATUS_BY_REASON.get(refused.why, status.HTTP_422_UNPROCESSABLE_CONTENT)
    messages = {
        Reason.MALFORMED: "the body is not a JSON event",
        Reason.FORBIDDEN_CHANNEL: "this API key may not write events on this channel",
        Reason.TOO_LARGE: "the event is too large",
    }
    fail(code, messages.get(refused.why, "the event is not valid"), refused.problems)


def too_large(limit: int, what: str) -> NoReturn:
    fail(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the body is larger than the limit of {limit} bytes ({what})",
    )


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == JSON


async def collect(chunks: AsyncIterable[bytes], limit: int, what: str) -> bytes:
    """The body's chunks joined, refused at the first byte past `limit` (never buffered)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            too_large(limit, what)
        parts.append(chunk)
    return b"".join(parts)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The raw body, if it is declared JSON and no larger than `limit` bytes."""
    if not is_json(request.headers.get("content-type", "")):
        fail(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send the body as Content-Type: {JSON}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        too_large(limit, what)
    return await collect(request.stream(), limit, what)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        fail(status.HTTP_400_BAD_REQUEST, f"the body is not valid JSON: {error}")


def event_list(data: Any, *, key: str | None, most: int) -> list[Any]:
    """The list of events of a batch body (`{"events": [...]}`) or of a webhook (`[...]`)."""
    if key is not None:
        if not isinstance(data, dict):
            fail(422, 'the body must be a JSON object: {"events": [...]}')
        if key not in data:
            fail(422, "the batch is not valid", [Problem(key, "field required")])
        data = data[key]
    if not isinstance(data, list):
        fail(422, "the batch is not valid", [Problem(key or "(body)", "must be a list of events")])
    if not data:
        fail(422, "the batch is not valid", [Problem(key or "(body)", "holds no events")])
    if len(data) > most:
        fail(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"a batch may hold at most {most} events; this one holds {len(data)}",
        )
    return data
