"""What the intake endpoints answer: response models, error documentation, shared answers.

Answers are serialised with orjson directly (the models document them in the OpenAPI), to keep
the hot path free of a second validation of what we just built.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from rapport_events.auth import Principal, Scope, require_scope
from rapport_events.kafka import BrokerUnavailable
from rapport_ingest.api.body import JSON, event_list, parse_json, read_body
from rapport_ingest.handlers import BatchOutcome, Intake
from rapport_ingest.settings import IngestSettings


class Accepted(BaseModel):
    event_id: uuid.UUID = Field(
        description="the event's id: the sender's, or one generated for it",
        examples=["0b7e8f3a-9c1d-4e2f-8a6b-5d4c3b2a1f00"],
    )
    status: str = Field("accepted", examples=["accepted"])


class AcceptedItem(BaseModel):
    index: int = Field(description="position in the posted list", examples=[0])
    event_id: uuid.UUID = Field(examples=["0b7e8f3a-9c1d-4e2f-8a6b-5d4c3b2a1f00"])


class RejectedItem(BaseModel):
    index: int = Field(description="position in the posted list", examples=[1])
    field: str = Field(description="the field that is wrong", examples=["properties.total"])
    reason: str = Field(description="what is wrong with it", examples=["Field required"])


class BatchAnswer(BaseModel):
    message: str = Field(examples=["1 accepted, 1 rejected"])
    accepted: list[AcceptedItem] = Field(description="durably in Kafka")
    rejected: list[RejectedItem] = Field(
        description="not accepted: one entry per problem; fix and re-post these only"
    )
    ignored: list[int] = Field(
        default_factory=list, description="webhook events Rapport does not record (indexes)"
    )


class ErrorDetail(BaseModel):
    status: int = Field(examples=[422])
    message: str = Field(examples=["the event is not valid"])
    problems: list[dict[str, str]] | None = Field(
        None, examples=[[{"field": "identity", "reason": "at least one identity field..."}]]
    )


class ErrorAnswer(BaseModel):
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "malformed JSON, or a body that is not a JSON object",
        401: "missing or unknown API key",
        403: "the key lacks events:write, or may not write this event's channel",
        413: "past a limit: 32 KB per event, 512 KB per request, 500 events per batch",
        415: "not Content-Type: application/json",
        422: "not valid; `problems` names each field",
        503: "Kafka did not acknowledge; nothing was accepted; retry after `Retry-After` s",
    }
    return {code: {"model": ErrorAnswer, "description": described[code]} for code in codes}


async def intake(request: Request) -> Intake:
    found: Intake = request.app.state.intake
    return found


async def settings(request: Request) -> IngestSettings:
    found: IngestSettings = request.app.state.settings
    return found


Writer = Annotated[Principal, Depends(require_scope(Scope.EVENTS_WRITE))]


def unavailable(retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail={"message": "the event store is unavailable; nothing was accepted, retry"},
        headers={"Retry-After": str(retry_after)},
    )


def batch_response(outcome: BatchOutcome) -> Response:
    answer = {
        "message": f"{len(outcome.accepted)} accepted, "
        f"{len({item.index for item in outcome.rejected})} rejected",
        "accepted": [{"index": i, "event_id": str(event_id)} for i, event_id in outcome.accepted],
        "rejected": [
            {"index": item.index, "field": item.field, "reason": item.reason}
            for item in outcome.rejected
        ],
        "ignored": outcome.ignored,
    }
    code = (
        status.HTTP_202_ACCEPTED
        if outcome.accepted or (outcome.ignored and not outcome.rejected)
        else status.HTTP_422_UNPROCESSABLE_CONTENT
    )
    return Response(orjson.dumps(answer), status_code=code, media_type=JSON)


async def list_answer(
    request: Request,
    config: IngestSettings,
    *,
    key: str | None,
    accept: Callable[[list[Any]], Awaitable[BatchOutcome]],
) -> Response:
    """Read a list of events (under `key`, or the body itself), accept them, answer."""
    raw = await read_body(request, config.max_request_bytes, "512 KB per request")
    items = event_list(parse_json(raw), key=key, most=config.max_batch_events)
    try:
        outcome = await accept(items)
    except BrokerUnavailable:
        raise unavailable(config.retry_after_seconds) from None
    return batch_response(outcome)
