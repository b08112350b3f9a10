"""GET offers' hot path (`api.hot`) answers exactly what the FastAPI route answers.

The same request is sent twice: once as the hot path takes it, once in a spelling FastAPI reads
the same but the hot path declines (the id as 32 hex digits), so that the route answers.
Bodies, statuses and content types must be equal; every refusal is the route's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rapport_events.auth import Scope, hash_key, new_key
from rapport_events.db import Database
from rapport_recommender.api import hot
from rapport_recommender.api.app import build_app
from rapport_recommender.handlers import fold
from rapport_recommender.store import MIGRATIONS
from services.recommender.tests.integration.test_offers_rules import (
    SETTINGS,
    cart,
    drain,
    email_consent,
    identified,
    new_customer,
    seed_pairs,
    tag,
)
from support.fixtures import database_settings
from support.infra import Endpoints, create_database, drop_database

pytestmark = pytest.mark.integration

KEY = new_key()
OTHER = new_key()


@pytest.fixture
async def served(infra: Endpoints) -> AsyncIterator[tuple[httpx.AsyncClient, uuid.UUID]]:
    """An API (no consumer, no workers) over a database holding one customer's ranking."""
    url = await create_database(infra.database_url, "recommender", MIGRATIONS)
    keys = [
        {"name": "site", "sha256": hash_key(KEY), "scopes": [Scope.OFFERS_READ]},
        {"name": "agent", "sha256": hash_key(OTHER), "scopes": [Scope.PROFILES_READ]},
    ]
    settings = SETTINGS.model_copy(
        update={
            "database": database_settings(url),
            "consumer_enabled": False,
            "background_enabled": False,
            "api_keys": SecretStr(json.dumps(keys)),
        }
    )
    db = Database(settings.database)
    t = tag()
    await seed_pairs(db, t)
    email, pid = new_customer()
    await fold(
        db,
        settings,
        [email_consent(email), cart(email, f"{t}-MUG", timedelta(hours=1))],
        [identified(pid, email)],
    )
    await drain(db, settings)
    await db.dispose()
    app = build_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recommender") as http:
        yield http, pid
    await app.state.db.dispose()
    await drop_database(infra.database_url, url)


async def test_hot_answers_equal_the_routes(
    served: tuple[httpx.AsyncClient, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, pid = served
    answered: list[int] = []  # the limits the hot path itself answered (not the route)
    original = hot.offers_response

    async def counted(app: Any, profile_id: uuid.UUID, limit: int) -> Any:
        answered.append(limit)
        return await original(app, profile_id, limit)

    monkeypatch.setattr(hot, "offers_response", counted)
    bearer = {"Authorization": f"Bearer {KEY}"}
    for params in ({}, {"limit": "1"}, {"limit": "50"}, {"limit": "3", "other": "x"}):
        fast = await client.get(f"/v1/customers/{pid}/offers", params=params, headers=bearer)
        routed = await client.get(f"/v1/customers/{pid.hex}/offers", params=params, headers=bearer)
        assert fast.status_code == routed.status_code == 200, params
        assert fast.content == routed.content, params
        assert fast.headers["content-type"] == routed.headers["content-type"]
    assert answered == [5, 1, 50, 3]
    body = fast.json()
    assert body["profile_id"] == str(pid)
    assert body["offers"][0]["kind"] == "abandoned_cart"  # a stored ranking, not an empty one


async def test_requests_the_hot_path_declines_get_the_routes_errors(
    served: tuple[httpx.AsyncClient, uuid.UUID],
) -> None:
    client, pid = served
    path = f"/v1/customers/{pid}/offers"
    bearer = {"Authorization": f"Bearer {KEY}"}
    cases = [
        ({}, {}, 401),
        ({}, {"Authorization": f"Basic {KEY}"}, 401),
        ({}, {"Authorization": "Bearer not-a-key"}, 401),
        ({}, {"Authorization": f"Bearer {OTHER}"}, 403),
        ({"limit": "0"}, bearer, 422),
        ({"limit": "51"}, bearer, 422),
        ({"limit": "two"}, bearer, 422),
    ]
    for params, headers, expected in cases:
        answer = await client.get(path, params=params, headers=headers)
        assert answer.status_code == expected, (params, headers, answer.text)
        assert answer.json()["error"]["status"] == expected
    malformed = await client.get("/v1/customers/not-a-uuid/offers", headers=bearer)
    assert malformed.status_code == 422
