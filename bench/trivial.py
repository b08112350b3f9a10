"""The reference endpoint for ingest's HTTP cost: parse the JSON body, answer 202."""

from __future__ import annotations

import uuid

import orjson
from fastapi import FastAPI, Request, status
from pydantic import BaseModel

from rapport_events.service import NO_NATIVE_TELEMETRY

# Served as the services are (`create_app`): without FastAPI's per-request telemetry check.
app = FastAPI(title="trivial reference", telemetry=NO_NATIVE_TELEMETRY)


class Accepted(BaseModel):
    event_id: uuid.UUID
    status: str = "accepted"


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/events", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def post_event(request: Request) -> Accepted:
    body = orjson.loads(await request.body())
    return Accepted(event_id=body.get("event_id") or uuid.uuid4())
