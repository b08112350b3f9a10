"""The call-center's hot reads — `GET /v1/customers/{id}` and `.../timeline` — answered before
FastAPI's routing and dependency solving, which cost more CPU per request than the read itself
(profiled at 500 reads/s: solving the route's dependencies and parameters alone took a quarter
of the process's CPU, the query and its serialisation less).

Only a request the FastAPI route would answer 200 is answered here: a GET with a valid API key
carrying `profiles:read`, an id in the canonical UUID spelling, query parameters in their plain
spelling, a live profile. The answer comes from the route's own functions
(`customers.card_response`, `customers.timeline_response`), so its bytes are the route's. Any
other request — no key, a bad parameter, an unknown, merged-away-and-erased or erased id, a
database failure — goes on untouched to the FastAPI route, which answers as it always did: the
error contract stays the route's by construction, and rare outcomes pay for a second read.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import parse_qsl

from fastapi import FastAPI, Response
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from rapport_events.auth import KeyRing
from rapport_events.auth import Scope as Scopes
from rapport_events.db import Database
from rapport_events.envelope import EVENT_TYPES, Channel
from rapport_profile.api import customers
from rapport_profile.api.customers import card_response, timeline_response

CARD_PATH = "/v1/customers/{profile_id}"
TIMELINE_PATH = "/v1/customers/{profile_id}/timeline"

_PATH = re.compile(
    r"/v1/customers/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(/timeline)?",
    re.IGNORECASE,
)
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_TIMELINE_PARAMETERS = frozenset({"limit", "cursor", "channel", "type"})
_CHANNELS = frozenset(channel.value for channel in Channel)
_TYPES = frozenset(EVENT_TYPES)

Answer = Callable[[], Awaitable[Response]]


def _bearer_key(scope: Scope) -> str | None:
    """The key of `Authorization: Bearer <key>`, read as FastAPI's HTTPBearer reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            return key if scheme.lower() == "bearer" and key else None
    return None


def _timeline_query(raw: bytes) -> dict[str, str] | None:
    """The timeline's parameters when each is given at most once in a spelling the route
    accepts as is; None sends the request to the route (which validates it)."""
    given: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name in _TIMELINE_PARAMETERS:
            if name in given:
                return None
            given[name] = value
    limit = given.get("limit")
    if limit is not None and not (_LIMIT.fullmatch(limit) and int(limit) <= 200):
        return None
    if "channel" in given and given["channel"] not in _CHANNELS:
        return None
    if "type" in given and given["type"] not in _TYPES:
        return None
    return given


class HotReads:
    """ASGI middleware inside the app's own (metrics see every request, labelled by the
    route's template as before), outside FastAPI's exception handling: it never raises, it
    hands the request on instead."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self._fastapi = fastapi
        # The routes themselves (the router records them in the scope; metrics read it).
        self._routes = {
            route.path: route
            for route in customers.router.routes
            if isinstance(route, APIRoute)
            and route.path in (CARD_PATH, TIMELINE_PATH)
            and "GET" in (route.methods or ())
        }

    def _answer(self, scope: Scope) -> tuple[APIRoute, Answer] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        matched = _PATH.fullmatch(scope["path"])
        if matched is None:
            return None
        key = _bearer_key(scope)
        key_ring: KeyRing = self._fastapi.state.key_ring
        principal = key_ring.identify(key) if key is not None else None
        if principal is None or Scopes.PROFILES_READ not in principal.scopes:
            return None
        db: Database = self._fastapi.state.db
        profile_id = uuid.UUID(matched.group(1))
        if matched.group(2) is None:
            return self._routes[CARD_PATH], lambda: card_response(db, profile_id)
        query = _timeline_query(scope["query_string"])
        if query is None:
            return None
        return self._routes[TIMELINE_PATH], lambda: timeline_response(
            db,
            profile_id,
            limit=int(query.get("limit", 20)),
            cursor=query.get("cursor") or None,
            channel=query.get("channel"),
            type_=query.get("type"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._answer(scope)
        if found is not None:
            route, answer = found
            response = None
            with suppress(Exception):  # the route answers it again, with its own error
                response = await answer()
            if response is not None:
                scope["route"] = route  # what the router would have recorded (metrics)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_hot_reads(app: FastAPI) -> None:
    """Innermost of the app's middleware (appended: Starlette wraps the first listed
    outermost), so request metrics still time these requests."""
    app.user_middleware.append(Middleware(HotReads, fastapi=app))
