"""Kafka unreachable: 503 with Retry-After, the answer says nothing was accepted, and nothing
reaches the topic. (A broker that dies mid-flight is the fault suite's: the shared broker may
not be stopped.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bench.stack import free_port
from rapport_events.settings import KafkaSettings
from rapport_ingest.api.app import build_app
from rapport_ingest.api.examples import example_event
from rapport_ingest.settings import IngestSettings
from support.keys import ApiKeys
from support.servers import running

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def cut_off(kafka_settings: KafkaSettings, keys: ApiKeys) -> AsyncIterator[str]:
    """Ingest pointed at a port nobody listens on, under the session's real topic names."""
    dead = kafka_settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    settings = IngestSettings(api_keys=keys.config(), kafka=dead, retry_after_seconds=7)
    async with running(build_app(settings), ready_path="/healthz") as base:
        yield base


async def test_a_dead_broker_answers_503_with_retry_after_and_publishes_nothing(
    cut_off: str, keys: ApiKeys, http: httpx.AsyncClient, read_back: Any
) -> None:
    one = {**example_event("order_completed"), "event_id": str(uuid.uuid4())}
    batch = [{**example_event("page_viewed"), "event_id": str(uuid.uuid4())} for _ in range(3)]
    answers = [
        await http.post(f"{cut_off}/v1/events", json=one, headers=keys.bearer(keys.writer)),
        await http.post(
            f"{cut_off}/v1/events/batch",
            json={"events": batch},
            headers=keys.bearer(keys.writer),
        ),
    ]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "7"
        assert "nothing was accepted" in answer.json()["error"]["message"]
        assert "accepted" not in answer.json()  # no partial list of accepted events
    ready = await http.get(f"{cut_off}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["kafka"].startswith("unavailable")
    assert await read_back([one["event_id"], *(e["event_id"] for e in batch)]) == {}


async def test_with_a_dead_broker_bad_input_is_still_told_apart(
    cut_off: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    """Validation comes first: a sender with a broken event learns that, not "retry later"."""
    answer = await http.post(
        f"{cut_off}/v1/events", json={"type": "page_viewed"}, headers=keys.bearer(keys.writer)
    )
    assert answer.status_code == 422
