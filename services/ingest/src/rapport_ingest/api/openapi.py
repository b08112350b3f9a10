"""The request bodies in the OpenAPI document.

The intake routes read their body themselves (to enforce byte limits while streaming and to
validate straight from the bytes), so FastAPI cannot infer the body; this puts the contract's
own JSON Schema (the one in libs/events/schema/) in its place, with an example of every type.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rapport_events.envelope import EVENT_ADAPTER, EVENT_TYPES
from rapport_ingest.api.examples import SENDGRID_EXAMPLE, example_event
from rapport_ingest.settings import IngestSettings

EVENT_REF = "#/components/schemas/TouchpointEvent"


def event_schemas() -> dict[str, Any]:
    """The contract's schema, its definitions as OpenAPI components."""
    schema = EVENT_ADAPTER.json_schema(
        mode="validation", ref_template="#/components/schemas/{model}"
    )
    definitions: dict[str, Any] = schema.pop("$defs")
    return {**definitions, "TouchpointEvent": schema}


SENDGRID_EVENT = {
    "type": "object",
    "description": "one SendGrid event; fields beyond these are ignored",
    "required": ["email", "timestamp", "event"],
    "properties": {
        "email": {"type": "string", "examples": ["ada@example.com"]},
        "timestamp": {"type": "integer", "description": "Unix seconds", "examples": [1779530400]},
        "event": {"type": "string", "examples": ["open"]},
        "sg_event_id": {"type": "string", "examples": ["sg-evt-1"]},
        "sg_message_id": {"type": "string", "examples": ["msg-3310"]},
        "url": {"type": "string", "examples": ["https://shop.example.com/garden"]},
        "type": {"type": "string", "enum": ["bounce", "blocked"], "examples": ["bounce"]},
        "ip": {"type": "string", "examples": ["203.0.113.77"]},
        "useragent": {"type": "string", "examples": ["Mozilla/5.0"]},
        "marketing_campaign_id": {"type": "string", "examples": ["spring-sale"]},
    },
}


def request_bodies(settings: IngestSettings) -> dict[str, dict[str, Any]]:
    examples = {kind: {"summary": kind, "value": example_event(kind)} for kind in EVENT_TYPES}
    most = settings.max_batch_events

    def json_body(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema, **extra}}}

    return {
        "event": json_body({"$ref": EVENT_REF}, examples=examples),
        "batch": json_body(
            {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": most,
                        "items": {"$ref": EVENT_REF},
                    }
                },
            },
            example={"events": [example_event("product_viewed"), example_event("cart_updated")]},
        ),
        "sendgrid": json_body(
            {"type": "array", "minItems": 1, "maxItems": most, "items": SENDGRID_EVENT},
            example=SENDGRID_EXAMPLE,
        ),
    }


def install_openapi(app: FastAPI, settings: IngestSettings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            bodies = request_bodies(settings)
            for path in document["paths"].values():
                for operation in path.values():
                    body = operation.pop("x-rapport-body", None)
                    if body is not None:
                        operation["requestBody"] = bodies[body]
            document.setdefault("components", {}).setdefault("schemas", {}).update(event_schemas())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
