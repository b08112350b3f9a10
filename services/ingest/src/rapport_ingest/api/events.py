"""`POST /v1/events` and `POST /v1/events/batch`: answered 202 once Kafka has acknowledged."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response, status

from rapport_events.auth import Principal
from rapport_events.kafka import BrokerUnavailable
from rapport_ingest.api.answers import (
    Accepted,
    BatchAnswer,
    Writer,
    error_responses,
    intake,
    list_answer,
    settings,
    unavailable,
)
from rapport_ingest.api.body import JSON, read_body, refuse
from rapport_ingest.domain.admission import Refused
from rapport_ingest.handlers import Intake
from rapport_ingest.settings import IngestSettings

router = APIRouter(prefix="/v1", tags=["events"])


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Post one touchpoint event",
    description=(
        "Answered 202 once Kafka has acknowledged the event (acks=all). Re-posting the same "
        "`event_id` is safe: it is answered 202 again and counted once downstream."
    ),
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
    openapi_extra={"x-rapport-body": "event"},
)
async def post_event(
    request: Request,
    principal: Writer,
    use_case: Annotated[Intake, Depends(intake)],
    config: Annotated[IngestSettings, Depends(settings)],
) -> Response:
    raw = await read_body(request, config.max_event_bytes, EVENT_LIMIT)
    return await accept_event(use_case, config, raw, principal)


EVENT_LIMIT = "32 KB per event"


async def accept_event(
    use_case: Intake, config: IngestSettings, raw: bytes, principal: Principal
) -> Response:
    """The answer to one posted event's bytes (shared with the hot path in `api.hot`):
    202 once Kafka has it, or the HTTPException of a refusal or an unavailable broker."""
    try:
        event_id = await use_case.accept_one(raw, principal)
    except Refused as refused:
        refuse(refused)
    except BrokerUnavailable:
        raise unavailable(config.retry_after_seconds) from None
    return Response(
        orjson.dumps({"event_id": str(event_id), "status": "accepted"}),
        status_code=status.HTTP_202_ACCEPTED,
        media_type=JSON,
    )


@router.post(
    "/events/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAnswer,
    summary="Post up to 500 touchpoint events at once",
    description=(
        "Valid events are published together and answered 202 once Kafka has acknowledged all "
        "of them; invalid ones are listed in `rejected` with their index, field and reason. "
        "422 when none was accepted. An event on a channel the key may not write is rejected "
        "like an invalid one (the others still go through). An event over 32 KB is rejected "
        "the same way; a body over 512 KB or with more than 500 events is refused whole (413)."
    ),
    responses={
        422: {"model": BatchAnswer, "description": "no event was valid"},
        **error_responses(400, 401, 403, 413, 415, 503),
    },
    openapi_extra={"x-rapport-body": "batch"},
)
async def post_batch(
    request: Request,
    principal: Writer,
    use_case: Annotated[Intake, Depends(intake)],
    config: Annotated[IngestSettings, Depends(settings)],
) -> Response:
    return await list_answer(
        request,
        config,
        key="events",
        accept=lambda items: use_case.accept_many(items, principal),
    )
