"""`POST /v1/events` answered before routing (`api.hot`) says exactly what the route says.

The same body is posted twice: with a Content-Length (the hot path takes it) and chunked,
without one (the hot path declines; the FastAPI route answers). Statuses and bodies must be
equal for an accepted event and for every refusal the hot path renders itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from rapport_ingest.api import events, hot
from rapport_ingest.api.examples import example_event
from support.keys import ApiKeys

pytestmark = pytest.mark.integration


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def post_both(
    http: httpx.AsyncClient, url: str, key: str, body: bytes
) -> tuple[httpx.Response, httpx.Response]:
    headers = {**ApiKeys.bearer(key), "Content-Type": "application/json"}
    fast = await http.post(url, content=body, headers=headers)
    routed = await http.post(url, content=chunked(body), headers=headers)
    return fast, routed


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def test_hot_answers_equal_the_routes(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[bytes] = []
    original = events.accept_event

    async def counted(*args: Any, **kwargs: Any) -> Any:
        served.append(args[2])
        return await original(*args, **kwargs)

    monkeypatch.setattr(events, "accept_event", counted)
    read_hot: list[int] = []
    original_chunks = hot._chunks

    def body_read(*args: Any) -> AsyncIterator[bytes]:
        read_hot.append(1)
        return original_chunks(*args)

    monkeypatch.setattr(hot, "_chunks", body_read)
    url = f"{ingest}/v1/events"
    valid = example_event("page_viewed")
    valid["event_id"] = str(uuid.uuid4())
    invalid = {**valid, "occurred_at": "yesterday"}
    in_store = example_event("order_completed")
    cases = [
        (keys.writer, orjson.dumps(valid), 202),
        (keys.writer, b'{"type": ', 400),
        (keys.writer, orjson.dumps(invalid), 422),
        (keys.store_writer, orjson.dumps({**valid, "channel": "web"}), 403),
        (keys.writer, orjson.dumps({**in_store, "properties": {}}), 422),
    ]
    for key, body, expected in cases:
        fast, routed = await post_both(http, url, key, body)
        assert fast.status_code == routed.status_code == expected, (body, fast.text, routed.text)
        assert fast.json() == routed.json(), body
        assert fast.headers["content-type"] == routed.headers["content-type"]
    # Each body went through the shared function twice, once by each path.
    assert len(served) == 2 * len(cases)
    assert len(read_hot) == len(cases)


async def test_requests_the_hot_path_declines_get_the_routes_errors(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    url = f"{ingest}/v1/events"
    body = orjson.dumps(example_event("page_viewed"))
    json_type = {"Content-Type": "application/json"}
    cases = [
        ({**json_type}, body, 401),
        ({**json_type, **ApiKeys.bearer(keys.reader)}, body, 403),
        ({"Content-Type": "text/plain", **ApiKeys.bearer(keys.writer)}, body, 415),
        ({**json_type, **ApiKeys.bearer(keys.writer)}, b" " * (33 * 1024) + body, 413),
    ]
    for headers, content, expected in cases:
        answer = await http.post(url, content=content, headers=headers)
        assert answer.status_code == expected, answer.text
        assert answer.json()["error"]["status"] == expected
