"""Every way a request can be refused: the status and a message naming the problem, never a
500. Requests that pass go to the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from rapport_ingest.api.examples import example_event
from support.keys import ApiKeys

pytestmark = pytest.mark.integration

KB = 1024


def event(kind: str = "page_viewed") -> dict[str, Any]:
    posted = example_event(kind)
    posted["event_id"] = str(uuid.uuid4())
    return posted


def error(answer: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()["error"]
    assert body["status"] == answer.status_code
    return body


async def post(
    http: httpx.AsyncClient, url: str, key: str, body: Any = None, **kwargs: Any
) -> httpx.Response:
    if body is not None:
        kwargs["content"] = orjson.dumps(body)
        kwargs.setdefault("headers", {})["content-type"] = "application/json"
    headers = {**ApiKeys.bearer(key), **kwargs.pop("headers", {})}
    return await http.post(url, headers=headers, **kwargs)


# --- who may post -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch", "/v1/webhooks/esp"])
async def test_every_intake_endpoint_needs_a_key_with_events_write(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient, path: str
) -> None:
    missing = await http.post(f"{ingest}{path}", json=event())
    assert missing.status_code == 401
    assert "missing API key" in error(missing)["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = await post(http, f"{ingest}{path}", "rk_not-a-key", event())
    assert unknown.status_code == 401
    assert error(unknown)["message"] == "unknown API key"
    reader = await post(http, f"{ingest}{path}", keys.reader, event())
    assert reader.status_code == 403
    assert "events:write" in error(reader)["message"]


async def test_a_key_limited_to_store_may_not_post_a_web_event(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    answer = await post(http, f"{ingest}/v1/events", keys.store_writer, event("page_viewed"))
    assert answer.status_code == 403
    assert error(answer)["problems"] == [
        {"field": "channel", "reason": "this API key may not write events on the web channel"}
    ]
    allowed = await post(http, f"{ingest}/v1/events", keys.store_writer, event("store_visited"))
    assert allowed.status_code == 202


# --- what the body must be ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch", "/v1/webhooks/esp"])
async def test_anything_but_json_is_415(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient, path: str
) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        answer = await post(http, f"{ingest}{path}", keys.writer, content=b"{}", headers=headers)
        assert answer.status_code == 415
        assert "Content-Type: application/json" in error(answer)["message"]
    charset = await post(
        http,
        f"{ingest}/v1/events",
        keys.writer,
        content=orjson.dumps(event()),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 202


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch", "/v1/webhooks/esp"])
@pytest.mark.parametrize("raw", [b"{", b"", b'{"type": "page_viewed",}', b"\xff\xfe"])
async def test_malformed_json_is_400(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient, path: str, raw: bytes
) -> None:
    answer = await post(
        http,
        f"{ingest}{path}",
        keys.writer,
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert "JSON" in error(answer)["message"] or "JSON" in str(error(answer)["problems"])


@pytest.mark.parametrize("body", [[1, 2], "an event", 42, None, True])
async def test_an_event_that_is_json_but_not_an_object_is_400(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient, body: Any
) -> None:
    answer = await post(
        http,
        f"{ingest}/v1/events",
        keys.writer,
        content=orjson.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert error(answer)["problems"] == [
        {"field": "(event)", "reason": "an event must be a JSON object"}
    ]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"identity": {}}, "identity", "at least one identity field is required"),
        ({"identity": None}, "identity", "Input should be an object"),
        ({"type": "teleported"}, "type", "unknown event type; expected one of: page_viewed"),
        ({"type": None}, "type", "unknown event type"),
        ({"channel": "fax"}, "channel", "Input should be 'web', 'call_center'"),
        ({"occurred_at": "yesterday"}, "occurred_at", "Input should be a valid datetime"),
        ({"occurred_at": "2026-11-23T10:00:00"}, "occurred_at", "timezone"),
        ({"identity": {"email": "not-an-email"}}, "identity.email", "not a valid email address"),
        ({"identity": {"phone": "12"}}, "identity.phone", "phone number"),
        ({"context": {"ip": "999.1.1.1"}}, "context.ip", "not an IP address"),
        ({"context": {"country": "GBR"}}, "context.country", "String should match pattern"),
        ({"event_id": "not-a-uuid"}, "event_id", "Input should be a valid UUID"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
        ({"properties": {"title": "no url"}}, "properties.url", "Field required"),
    ],
)
async def test_an_invalid_event_is_422_naming_the_field(
    ingest: str,
    keys: ApiKeys,
    http: httpx.AsyncClient,
    change: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    posted = {**event("page_viewed"), **change}
    if change.get("type", "") is None:
        posted["type"] = None
    answer = await post(http, f"{ingest}/v1/events", keys.writer, posted)
    assert answer.status_code == 422, answer.text
    body = error(answer)
    assert body["message"] == "the event is not valid"
    assert any(
        problem["field"] == field and reason in problem["reason"] for problem in body["problems"]
    ), body["problems"]


async def test_a_missing_type_is_named(ingest: str, keys: ApiKeys, http: httpx.AsyncClient) -> None:
    posted = event()
    del posted["type"]
    answer = await post(http, f"{ingest}/v1/events", keys.writer, posted)
    assert answer.status_code == 422
    assert error(answer)["problems"] == [{"field": "type", "reason": "field required"}]


@pytest.mark.parametrize(
    ("shift", "reason"),
    [
        (timedelta(hours=2), "lies in the future"),
        (timedelta(days=-400), "older than 366 days"),
    ],
)
async def test_far_future_and_far_past_timestamps_are_422(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient, shift: timedelta, reason: str
) -> None:
    posted = example_event("page_viewed", at=datetime.now(UTC) + shift)
    del posted["sent_at"]
    answer = await post(http, f"{ingest}/v1/events", keys.writer, posted)
    assert answer.status_code == 422
    [problem] = error(answer)["problems"]
    assert problem["field"] == "occurred_at"
    assert reason in problem["reason"]


async def test_a_skewed_sender_clock_is_corrected_not_refused(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    """occurred_at two hours ahead is fine when sent_at shows the whole clock is ahead."""
    posted = example_event("page_viewed", at=datetime.now(UTC) + timedelta(hours=2))
    posted["event_id"] = str(uuid.uuid4())
    answer = await post(http, f"{ingest}/v1/events", keys.writer, posted)
    assert answer.status_code == 202, answer.text


# --- limits -------------------------------------------------------------------------------------


def padded(size: int) -> dict[str, Any]:
    """An otherwise valid event whose JSON is about `size` bytes."""
    posted = event("page_viewed")
    base = len(orjson.dumps(posted))
    posted["properties"]["padding"] = "x" * max(0, size - base - 14)
    return posted


async def test_an_event_over_32_kb_is_413(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    just_under = padded(32 * KB - 100)
    assert (await post(http, f"{ingest}/v1/events", keys.writer, just_under)).status_code == 202
    answer = await post(http, f"{ingest}/v1/events", keys.writer, padded(33 * KB))
    assert answer.status_code == 413
    assert "32 KB per event" in error(answer)["message"]


async def test_a_batch_over_500_events_is_413(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    tiny = {"type": "page_viewed"}
    answer = await post(http, f"{ingest}/v1/events/batch", keys.writer, {"events": [tiny] * 501})
    assert answer.status_code == 413
    assert error(answer)["message"] == "a batch may hold at most 500 events; this one holds 501"


async def test_a_request_over_512_kb_is_413(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    events = [padded(20 * KB) for _ in range(27)]  # ~540 KB
    answer = await post(http, f"{ingest}/v1/events/batch", keys.writer, {"events": events})
    assert answer.status_code == 413
    assert "512 KB per request" in error(answer)["message"]


async def test_an_event_over_32_kb_inside_a_batch_is_listed_as_rejected(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    small, big = event(), padded(40 * KB)
    answer = await post(http, f"{ingest}/v1/events/batch", keys.writer, {"events": [small, big]})
    assert answer.status_code == 202, answer.text
    [rejected] = answer.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["field"] == "(event)"
    assert "at most 32768 allowed" in rejected["reason"]


async def _chunks(total: int, size: int = 16 * KB) -> AsyncIterator[bytes]:
    yield b'{"events": ["'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"]}'


async def test_a_chunked_body_is_cut_off_at_512_kb_while_streaming(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        f"{ingest}/v1/events/batch",
        content=_chunks(4 * 1024 * KB),  # no Content-Length: Transfer-Encoding: chunked
        headers={**ApiKeys.bearer(keys.writer), "content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert "512 KB per request" in error(answer)["message"]


async def test_a_chunked_body_within_the_limit_is_accepted(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    raw = orjson.dumps({"events": [event(), event()]})

    async def in_pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 100):
            yield raw[start : start + 100]

    answer = await http.post(
        f"{ingest}/v1/events/batch",
        content=in_pieces(),
        headers={**ApiKeys.bearer(keys.writer), "content-type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    assert len(answer.json()["accepted"]) == 2


async def test_a_huge_declared_content_length_is_refused_before_any_body(
    ingest: str, keys: ApiKeys
) -> None:
    """Declare 10 GB and send nothing: the answer must come at once, not after a read."""
    url = urlsplit(ingest)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            b"POST /v1/events/batch HTTP/1.1\r\nHost: ingest\r\n"
            + f"Authorization: Bearer {keys.writer}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert status_line.startswith(b"HTTP/1.1 413"), status_line
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        body = orjson.loads(await asyncio.wait_for(reader.readexactly(length), 5))
        assert "512 KB per request" in body["error"]["message"]
    finally:
        writer.close()


# --- the batch's own shape ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "problems"),
    [
        ([{"type": "page_viewed"}], 'the body must be a JSON object: {"events": [...]}', None),
        (
            {"event": []},
            "the batch is not valid",
            [{"field": "events", "reason": "field required"}],
        ),
        (
            {"events": {"type": "page_viewed"}},
            "the batch is not valid",
            [{"field": "events", "reason": "must be a list of events"}],
        ),
        (
            {"events": []},
            "the batch is not valid",
            [{"field": "events", "reason": "holds no events"}],
        ),
    ],
)
async def test_a_batch_body_of_the_wrong_shape_is_422(
    ingest: str,
    keys: ApiKeys,
    http: httpx.AsyncClient,
    body: Any,
    message: str,
    problems: list[dict[str, str]] | None,
) -> None:
    answer = await post(http, f"{ingest}/v1/events/batch", keys.writer, body)
    assert answer.status_code == 422
    assert error(answer)["message"] == message
    assert error(answer).get("problems") == problems


async def test_batch_items_that_are_not_objects_are_listed(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    answer = await post(
        http, f"{ingest}/v1/events/batch", keys.writer, {"events": [1, "x", None, []]}
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["accepted"] == []
    assert body["rejected"] == [
        {"index": i, "field": "(event)", "reason": "an event must be a JSON object"}
        for i in range(4)
    ]
    assert body["message"] == "0 accepted, 4 rejected"


async def test_a_webhook_that_is_not_a_list_or_holds_junk_is_refused(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    answer = await post(http, f"{ingest}/v1/webhooks/esp", keys.writer, {"event": "open"})
    assert answer.status_code == 422
    assert error(answer)["problems"] == [{"field": "(body)", "reason": "must be a list of events"}]
    junk = await post(
        http,
        f"{ingest}/v1/webhooks/esp",
        keys.writer,
        [1, {"event": "teleport", "timestamp": 1}, {"event": "open", "timestamp": "x"}],
    )
    assert junk.status_code == 422
    assert [(r["index"], r["field"]) for r in junk.json()["rejected"]] == [
        (0, "(event)"),
        (1, "event"),
        (2, "timestamp"),
    ]
