"""The call-center's hot reads — `GET /v1/customers/lookup`, `/v1/customers/{id}` and
`.../timeline` — answered before FastAPI's routing and dependency solving, which cost more CPU
per request than the read itself (profiled at 500 reads/s: solving the route's dependencies
and parameters took a quarter of the process's CPU and made most of its garbage).

Taken only for a GET with a valid API key carrying `profiles:read`, an id in the canonical UUID
spelling, and each query parameter given once, in a spelling the route takes as is. The answer
comes from the route's own functions (`customers.lookup_response`, `card_response`,
`timeline_response`): a 200 with the route's bytes, or the route's own 400/404/410 rendered as
every route renders an HTTPException. Any other request — no key, a bad or repeated parameter,
a database failure — goes on untouched to the FastAPI route, which answers as it always did.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException, Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope

from rapport_events.auth import Scope as Scopes
from rapport_events.auth import bearer_principal
from rapport_events.db import Database
from rapport_events.envelope import EVENT_TYPES, Channel
from rapport_events.identity import IdentityKind
from rapport_events.service import http_error_response, install_shortcut
from rapport_profile.api import customers
from rapport_profile.api.customers import card_response, lookup_response, timeline_response

LOOKUP_PATH = "/v1/customers/lookup"
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
_IDENTIFIERS = frozenset(kind.value for kind in IdentityKind)

Answer = Callable[[], Awaitable[Response]]


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


def _lookup_query(raw: bytes) -> dict[IdentityKind, str | None] | None:
    """The lookup's identifiers, each given at most once; None sends it to the route."""
    given: dict[IdentityKind, str | None] = dict.fromkeys(IdentityKind)
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name in _IDENTIFIERS:
            kind = IdentityKind(name)
            if given[kind] is not None:
                return None
            given[kind] = value
    return given


def _routes() -> dict[str, APIRoute]:
    """The routes this stands for, as the router records them in the scope (metrics)."""
    return {
        route.path: route
        for route in customers.router.routes
        if isinstance(route, APIRoute)
        and route.path in (LOOKUP_PATH, CARD_PATH, TIMELINE_PATH)
        and "GET" in (route.methods or ())
    }


def _reader(app: FastAPI, scope: Scope) -> bool:
    return bearer_principal(scope["headers"], app.state.key_ring, Scopes.PROFILES_READ) is not None


def _by_id(
    app: FastAPI, routes: dict[str, APIRoute], scope: Scope
) -> tuple[APIRoute, Answer] | None:
    matched = _PATH.fullmatch(scope["path"])
    if matched is None or not _reader(app, scope):
        return None
    db: Database = app.state.db
    profile_id = uuid.UUID(matched.group(1))
    if matched.group(2) is None:
        return routes[CARD_PATH], lambda: card_response(db, profile_id)
    query = _timeline_query(scope["query_string"])
    if query is None:
        return None
    return routes[TIMELINE_PATH], lambda: timeline_response(
        db,
        profile_id,
        limit=int(query.get("limit", 20)),
        cursor=query.get("cursor") or None,
        channel=query.get("channel"),
        type_=query.get("type"),
    )


def _answer(
    app: FastAPI, routes: dict[str, APIRoute], scope: Scope
) -> tuple[APIRoute, Answer] | None:
    if scope["method"] != "GET":
        return None
    if scope["path"] != LOOKUP_PATH:
        return _by_id(app, routes, scope)
    given = _lookup_query(scope["query_string"])
    if given is None or not _reader(app, scope):
        return None
    region: str = app.state.settings.phone_region
    return routes[LOOKUP_PATH], lambda: lookup_response(app.state.db, region, given)


def install_hot_reads(app: FastAPI) -> None:
    routes = _routes()

    async def shortcut(scope: Scope, _: Receive) -> tuple[APIRoute, Response] | None:
        found = _answer(app, routes, scope)
        if found is None:
            return None
        route, answer = found
        try:
            return route, await answer()
        except HTTPException as error:  # the route's own 400/404/410, as it renders them
            return route, http_error_response(error)
        except Exception:  # a database failure: the route answers it again (its 503)
            return None

    install_shortcut(app, shortcut)
