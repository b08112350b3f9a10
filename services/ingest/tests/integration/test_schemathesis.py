"""Schemathesis against the live OpenAPI of ingest, with a valid key and the real broker:
whatever it generates from the documented bodies — valid or not — is never answered 5xx.

Valid and invalid bodies both (schemathesis' positive and negative modes). Bounded (at most
60 examples per operation) to keep it under a minute on a shared machine.
The server runs in a thread of its own: schemathesis calls it synchronously, which would block
the test session's event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from bench.stack import free_port
from rapport_events.settings import KafkaSettings
from rapport_ingest.api.app import build_app
from rapport_ingest.settings import IngestSettings
from support.keys import ApiKeys

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def threaded_ingest(kafka_settings: KafkaSettings, keys: ApiKeys) -> Iterator[str]:
    port = free_port()
    app = build_app(IngestSettings(api_keys=keys.config(), kafka=kafka_settings))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="ingest-under-schemathesis", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ingest was not ready within 30 s"
            time.sleep(0.1)
        yield base
    finally:
        server.should_exit = True
        thread.join(30)


def test_nothing_generated_from_the_openapi_is_answered_5xx(
    threaded_ingest: str, keys: ApiKeys
) -> None:
    # Driven by hand rather than by schemathesis' pytest plugin, which does not run on pytest 9.
    schema = schemathesis.openapi.from_url(f"{threaded_ingest}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    intake = [op for op in operations if op.path.startswith("/v1/")]
    assert {(op.method.upper(), op.path) for op in intake} == {
        ("POST", "/v1/events"),
        ("POST", "/v1/events/batch"),
        ("POST", "/v1/webhooks/esp"),
    }
    seen: dict[str, set[int]] = {}
    for operation in operations:

        @given(
            case=operation.as_strategy(GenerationMode.POSITIVE)
            | operation.as_strategy(GenerationMode.NEGATIVE)
        )
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: Any) -> None:
            case.headers = {**(case.headers or {}), **ApiKeys.bearer(keys.writer)}
            response = case.call(timeout=10)
            seen.setdefault(case.operation.path, set()).add(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        call()
    # The generator reached past the front door: some bodies were accepted, some refused.
    assert 202 in seen["/v1/events"] | seen["/v1/events/batch"], seen
    assert 422 in seen["/v1/events"], seen
    print("status codes seen per path:", seen)
