"""The hot read path answers exactly what the FastAPI routes answer, on a real database.

The same request is sent twice: once as the hot path takes it (`api.hot`), once in a spelling
FastAPI reads the same but the hot path declines (the id as 32 hex digits; a lookup parameter
repeated), so that the FastAPI route answers. Bodies, statuses and content types must be equal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from rapport_events.auth import Scope, hash_key, new_key
from rapport_profile.api import hot
from rapport_profile.api.app import build_app
from rapport_profile.settings import ProfileSettings
from rapport_profile.store import MIGRATIONS
from rapport_profile.store.synthetic import seed, synthetic_profile_id
from support.fixtures import database_settings
from support.infra import Endpoints, create_database, drop_database

pytestmark = pytest.mark.integration

KEY = new_key()
OTHER = new_key()


@pytest.fixture
async def client(infra: Endpoints) -> AsyncIterator[httpx.AsyncClient]:
    url = await create_database(infra.database_url, "profile", MIGRATIONS)
    await seed(url.replace("postgresql+asyncpg://", "postgresql://"), 5, 30)
    keys = [
        {"name": "agent", "sha256": hash_key(KEY), "scopes": [Scope.PROFILES_READ]},
        {"name": "offers", "sha256": hash_key(OTHER), "scopes": [Scope.OFFERS_READ]},
    ]
    settings = ProfileSettings(
        database=database_settings(url), consumer_enabled=False, api_keys=json.dumps(keys)
    )
    app = build_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profile") as http:
        yield http
    await app.state.db.dispose()
    await drop_database(infra.database_url, url)


async def test_hot_answers_equal_the_routes(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[str] = []  # the answers the hot path itself gave (not the route)
    for name in ("lookup_response", "card_response", "timeline_response"):
        original = getattr(hot, name)

        async def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            served.append(_original.__name__)
            return await _original(*args, **kwargs)

        monkeypatch.setattr(hot, name, counted)
    profile = synthetic_profile_id(3)
    bearer = {"Authorization": f"Bearer {KEY}"}
    first = await client.get(f"/v1/customers/{profile}/timeline", headers=bearer)
    cursor = first.json()["next_cursor"]
    assert cursor is not None  # 30 interactions: a second page exists
    for suffix, params in [
        ("", {}),
        ("/timeline", {}),
        ("/timeline", {"limit": "7"}),
        ("/timeline", {"limit": "5", "cursor": cursor}),
        ("/timeline", {"channel": "web"}),
        ("/timeline", {"type": "page_viewed", "limit": "200"}),
    ]:
        fast = await client.get(f"/v1/customers/{profile}{suffix}", params=params, headers=bearer)
        routed = await client.get(
            f"/v1/customers/{profile.hex}{suffix}", params=params, headers=bearer
        )
        assert fast.status_code == routed.status_code == 200, (suffix, params)
        assert fast.content == routed.content, (suffix, params)
        assert fast.headers["content-type"] == routed.headers["content-type"]
    # A repeated parameter sends a lookup to the route (FastAPI keeps one of the values).
    for query in ("email=C3@Example.com", "anonymous_id=anon-3", "email=nobody@example.com"):
        fast = await client.get(f"/v1/customers/lookup?{query}", headers=bearer)
        routed = await client.get(f"/v1/customers/lookup?{query}&{query}", headers=bearer)
        assert fast.status_code == routed.status_code, query
        assert fast.content == routed.content, query
    assert served.count("lookup_response") == 3
    assert served.count("card_response") == 1
    assert served.count("timeline_response") == 6  # the first page, then the five above


async def test_requests_the_hot_path_declines_get_the_routes_errors(
    client: httpx.AsyncClient,
) -> None:
    profile = synthetic_profile_id(1)
    bearer = {"Authorization": f"Bearer {KEY}"}
    cases = [
        (f"/v1/customers/{profile}", {}, {}, 401),
        (f"/v1/customers/{profile}", {}, {"Authorization": f"Basic {KEY}"}, 401),
        (f"/v1/customers/{profile}", {}, {"Authorization": f"Bearer {OTHER}"}, 403),
        (f"/v1/customers/{synthetic_profile_id(99)}", {}, bearer, 404),
        (f"/v1/customers/{profile}/timeline", {"limit": "0"}, bearer, 422),
        (f"/v1/customers/{profile}/timeline", {"limit": "201"}, bearer, 422),
        (f"/v1/customers/{profile}/timeline", {"channel": "fax"}, bearer, 422),
        (f"/v1/customers/{profile}/timeline", {"type": "nope"}, bearer, 400),
        (f"/v1/customers/{profile}/timeline", {"cursor": "garbage"}, bearer, 400),
        ("/v1/customers/lookup", {"email": "nobody@example.com"}, bearer, 404),
        ("/v1/customers/lookup", {"phone": "12"}, bearer, 400),
        ("/v1/customers/lookup", {}, bearer, 400),
        ("/v1/customers/lookup", {"email": "c1@example.com", "anonymous_id": "x"}, bearer, 400),
        ("/v1/customers/lookup", {"email": "c1@example.com"}, {}, 401),
    ]
    for path, params, headers, expected in cases:
        answer = await client.get(path, params=params, headers=headers)
        assert answer.status_code == expected, (path, params, answer.text)
        assert answer.json()["error"]["status"] == expected
