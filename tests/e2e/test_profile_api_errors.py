"""Every 4xx of the profile API, and export then erasure end to end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from support.keys import ApiKeys
from support.servers import eventually
from support.stack import Stack

pytestmark = pytest.mark.e2e


async def _customer(stack: Stack, http: httpx.AsyncClient) -> tuple[str, str]:
    email = f"erin-{uuid.uuid4().hex[:8]}@example.com"
    event = {
        "type": "identify",
        "channel": "web",
        "occurred_at": datetime.now(UTC).isoformat(),
        "identity": {"email": email},
        "properties": {"traits": {"first_name": "Erin"}},
    }
    posted = await http.post(
        f"{stack.ingest}/v1/events", json=event, headers=ApiKeys.bearer(stack.keys.writer)
    )
    assert posted.status_code == 202

    async def found() -> str | None:
        answer = await http.get(
            f"{stack.profile}/v1/customers/lookup",
            params={"email": email},
            headers=ApiKeys.bearer(stack.keys.reader),
        )
        return answer.json()["profile_id"] if answer.status_code == 200 else None

    return await eventually(found, timeout=20), email


async def test_bad_requests_get_a_clear_4xx(stack: Stack, http: httpx.AsyncClient) -> None:
    pid, _ = await _customer(stack, http)
    reader = ApiKeys.bearer(stack.keys.reader)
    base = f"{stack.profile}/v1/customers"
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
        (f"{base}/{pid}/timeline", {"cursor": "garbage"}, reader, 400, "cursor"),
        (f"{base}/{pid}/timeline", {"type": "nope"}, reader, 400, "type"),
        (f"{base}/{uuid.uuid4()}", {}, reader, 404, "no customer"),
        (f"{base}/lookup", {"email": f"{uuid.uuid4().hex}@example.com"}, reader, 404, "email"),
        (f"{base}/lookup", {"phone": "12"}, reader, 400, "phone"),
        (f"{base}/lookup", {}, reader, 400, "exactly one"),
        (f"{base}/not-a-uuid", {}, reader, 422, "profile_id"),
        (f"{base}/{pid}", {}, ApiKeys.bearer(stack.keys.offers), 403, ""),
        (f"{base}/{pid}/export", {}, reader, 403, ""),
        (f"{base}/{pid}", {}, {}, 401, ""),
    ]
    for url, params, headers, expected, mentions in cases:
        answer = await http.get(url, params=params, headers=headers)
        assert answer.status_code == expected, (url, params, answer.text)
        assert mentions in answer.text
    wrong_scope = await http.delete(f"{base}/{pid}", headers=reader)
    assert wrong_scope.status_code == 403


async def test_export_then_erase_then_gone(stack: Stack, http: httpx.AsyncClient) -> None:
    pid, email = await _customer(stack, http)
    eraser = ApiKeys.bearer(stack.keys.eraser)
    base = f"{stack.profile}/v1/customers"
    exported = await http.get(f"{base}/{pid}/export", headers=eraser)
    assert exported.status_code == 200
    body = exported.json()
    assert body["card"]["traits"]["first_name"] == "Erin"
    assert {"kind": "email", "value": email} in body["card"]["identities"]
    assert len(body["timeline"]) == 1
    erased = await http.delete(f"{base}/{pid}", headers=eraser)
    assert erased.status_code == 200, erased.text
    assert erased.json()["identifiers_erased"] == 1
    gone = await http.get(f"{base}/{pid}", headers=ApiKeys.bearer(stack.keys.reader))
    assert gone.status_code == 410
    assert "erased on" in gone.json()["error"]["message"]
    assert (
        await http.get(f"{base}/lookup", params={"email": email}, headers=eraser)
    ).status_code == 404
    assert (await http.delete(f"{base}/{pid}", headers=eraser)).status_code == 410


async def test_readiness_reports_consumer_lag(stack: Stack, http: httpx.AsyncClient) -> None:
    ready = await http.get(f"{stack.profile}/readyz")
    assert ready.status_code == 200
    consumer = ready.json()["consumer"]
    assert consumer["running"] is True
    assert isinstance(consumer["lag"], int)
