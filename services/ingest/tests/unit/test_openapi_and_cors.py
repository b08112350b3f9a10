"""The OpenAPI document tells senders the same contract as libs/events/schema/, with an
example of every field; CORS answers a storefront's preflight. No broker needed: the app is
driven in-process without its lifespan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport_events.envelope import EVENT_TYPES, PROPERTIES_BY_TYPE, Context, Envelope
from rapport_events.identity import Identity
from rapport_events.properties import Item, Traits
from rapport_events.settings import KafkaSettings
from rapport_ingest.api.app import build_app
from rapport_ingest.api.examples import EXAMPLES, example_event
from rapport_ingest.settings import IngestSettings

SCHEMA_FILE = Path(__file__).parents[4] / "libs/events/schema/touchpoint-event.schema.json"
NOWHERE = KafkaSettings(bootstrap_servers="127.0.0.1:9")


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in path:
            node = node[part]
    return node


def contract(document: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """type → (envelope required fields, properties required fields), read from a schema."""
    union = resolve(document, root)
    found = {}
    for member in union["oneOf"]:
        model = resolve(document, member)
        kind = model["properties"]["type"]["const"]
        properties = resolve(document, model["properties"]["properties"])
        found[kind] = (sorted(model["required"]), sorted(properties.get("required", [])))
    return found


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = build_app(IngestSettings(kafka=NOWHERE)).openapi()
    return document


def test_the_openapi_body_of_post_events_is_the_checked_in_json_schema(
    openapi: dict[str, Any],
) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    body = openapi["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    from_openapi = contract(openapi, body["schema"])
    from_schema = contract(schema, schema)
    assert sorted(from_openapi) == sorted(EVENT_TYPES)
    assert from_openapi == from_schema
    assert from_openapi["order_completed"][1] == ["currency", "items", "order_id", "total"]


def test_the_batch_body_holds_the_same_events(openapi: dict[str, Any]) -> None:
    body = openapi["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]
    events = body["application/json"]["schema"]["properties"]["events"]
    assert events["maxItems"] == 500
    assert contract(openapi, events["items"]) == contract(
        openapi, {"$ref": "#/components/schemas/TouchpointEvent"}
    )


def test_every_event_type_has_an_example_filling_every_field(openapi: dict[str, Any]) -> None:
    body = openapi["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert sorted(body["examples"]) == sorted(EVENT_TYPES)
    for kind, model in PROPERTIES_BY_TYPE.items():
        example = body["examples"][kind]["value"]
        assert set(example["properties"]) == set(model.model_fields), kind
        for item in example["properties"].get("items", []):
            if isinstance(item, dict):  # offer events list bare skus
                assert set(item) == set(Item.model_fields), kind
    sent = set(Envelope.model_fields) - {"received_at", "timestamp"}  # those ingest sets
    assert set(example_event("page_viewed")) == sent
    assert set(example_event("page_viewed")["identity"]) == set(Identity.model_fields)
    assert set(example_event("page_viewed")["context"]) == set(Context.model_fields)
    assert set(EXAMPLES["identify"][1]["traits"]) == set(Traits.model_fields)


def test_every_response_field_has_an_example(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("Accepted", "AcceptedItem", "RejectedItem", "ErrorDetail"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("examples"), f"{name}.{field}"


def test_every_intake_route_documents_its_refusals(openapi: dict[str, Any]) -> None:
    for path in ("/v1/events", "/v1/events/batch", "/v1/webhooks/esp"):
        responses = openapi["paths"][path]["post"]["responses"]
        assert {"202", "400", "401", "403", "413", "415", "422", "503"} <= set(responses), path


async def cors_client(origins: list[str]) -> httpx.AsyncClient:
    app = build_app(IngestSettings(kafka=NOWHERE, cors_origins=origins))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingest")


PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_a_configured_storefront_passes_the_preflight() -> None:
    async with await cors_client(["https://shop.example.com"]) as client:
        allowed = await client.options(
            "/v1/events", headers={"Origin": "https://shop.example.com", **PREFLIGHT}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = await client.options(
            "/v1/events", headers={"Origin": "https://evil.example.net", **PREFLIGHT}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        # the real request carries the header too, even when refused (the page can read why)
        refused = await client.post(
            "/v1/events", json={}, headers={"Origin": "https://shop.example.com"}
        )
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://shop.example.com"


async def test_without_configured_origins_there_is_no_cors() -> None:
    async with await cors_client([]) as client:
        answer = await client.options(
            "/v1/events", headers={"Origin": "https://shop.example.com", **PREFLIGHT}
        )
        assert answer.status_code == 405
        assert "access-control-allow-origin" not in answer.headers
