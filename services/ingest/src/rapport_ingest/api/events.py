"""`POST /v1/events`: one touchpoint event, answered 202 once Kafka has acknowledged it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ValidationError

from rapport_events.auth import Principal, Scope, require_scope
from rapport_events.codec import encode_event
from rapport_events.envelope import EVENT_ADAPTER, now_utc, validation_problems
from rapport_events.identity import message_key
from rapport_events.kafka import BrokerUnavailable, Publisher
from rapport_ingest.domain import Inadmissible, TimeWindow, admit
from rapport_ingest.settings import IngestSettings

router = APIRouter(prefix="/v1", tags=["events"])


class Accepted(BaseModel):
    event_id: uuid.UUID
    status: str = "accepted"


def _problem(status_code: int, message: str, problems: list[dict[str, str]] | None = None) -> Any:
    detail: dict[str, Any] = {"message": message}
    if problems:
        detail["problems"] = problems
    return HTTPException(status_code, detail=detail)


async def _json_body(request: Request, limit: int) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise _problem(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the event as Content-Type: application/json",
        )
    body = await request.body()
    if len(body) > limit:
        raise _problem(status.HTTP_413_CONTENT_TOO_LARGE, f"an event may be at most {limit} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _problem(
            status.HTTP_400_BAD_REQUEST, f"the body is not valid JSON: {error}"
        ) from None


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Post one touchpoint event",
    responses={
        400: {"description": "malformed JSON"},
        401: {"description": "missing or unknown API key"},
        403: {"description": "the key lacks events:write, or may not write this channel"},
        413: {"description": "the event is larger than 32 KB"},
        415: {"description": "not application/json"},
        422: {"description": "the event is not valid; `problems` names each field"},
        503: {"description": "Kafka is unreachable; retry after `Retry-After` seconds"},
    },
)
async def post_event(
    request: Request,
    principal: Annotated[Principal, Depends(require_scope(Scope.EVENTS_WRITE))],
) -> Accepted:
    settings: IngestSettings = request.app.state.settings
    publisher: Publisher = request.app.state.publisher
    data = await _json_body(request, settings.max_event_bytes)
    try:
        event = EVENT_ADAPTER.validate_python(data, context={"phone_region": settings.phone_region})
    except ValidationError as error:
        raise _problem(422, "the event is not valid", validation_problems(error)) from None
    if not principal.may_write_channel(event.channel):
        raise _problem(403, f"this API key may not write events on the {event.channel} channel")
    window = TimeWindow(
        max_age=timedelta(days=settings.max_event_age_days),
        max_ahead=timedelta(minutes=settings.max_clock_ahead_minutes),
    )
    try:
        event = admit(event, now_utc(), window)
    except Inadmissible as error:
        raise _problem(
            422, "the event is not valid", [{"field": error.field, "reason": error.reason}]
        ) from None
    try:
        await publisher.publish(
            settings.kafka.topics.touchpoints,
            encode_event(event),
            key=message_key(event.identity),
            headers=[("event-type", event.type.encode()), ("source", principal.name.encode())],
        )
    except BrokerUnavailable:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"message": "the event store is unavailable; nothing was accepted, retry"},
            headers={"Retry-After": str(settings.retry_after_seconds)},
        ) from None
    return Accepted(event_id=event.event_id)
