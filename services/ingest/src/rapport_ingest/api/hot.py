"""`POST /v1/events` answered before FastAPI's routing: the route's dependency solving (the key,
the use case, the settings) cost a single event about as much CPU as validating it.

Taken only when the request is what a sender in good standing sends: a key carrying
`events:write`, `Content-Type: application/json`, a declared `Content-Length` within the event
limit. Anything else goes on untouched to the route (its 401/403/413/415 answers). Once the
body is read the answer is this module's, built by the route's own function
(`events.accept_event`): a 202, or the route's refusal or 503 rendered as every route renders
an HTTPException (`rapport_events.service.http_error_response`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from rapport_events.auth import Principal, bearer_principal
from rapport_events.auth import Scope as Scopes
from rapport_events.service import http_error_response, install_shortcut
from rapport_ingest.api import events
from rapport_ingest.api.body import collect, is_json
from rapport_ingest.handlers import Intake
from rapport_ingest.settings import IngestSettings

PATH = "/v1/events"


def _declared(scope: Scope) -> tuple[bytes | None, bytes | None]:
    content_type = length = None
    for name, value in scope["headers"]:
        if name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"content-length" and length is None:
            length = value
    return content_type, length


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body as it streams in (what `Request.stream()` yields, without the Request)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def install_hot_events(app: FastAPI) -> None:
    route = next(r for r in events.router.routes if isinstance(r, APIRoute) and r.path == PATH)
    settings: IngestSettings = app.state.settings
    use_case: Intake = app.state.intake
    limit = settings.max_event_bytes

    def taken(scope: Scope) -> Principal | None:
        """The sender, when the request is one this path answers."""
        if scope["method"] != "POST" or scope["path"] != PATH:
            return None
        content_type, length = _declared(scope)
        if content_type is None or not is_json(content_type.decode("latin-1")):
            return None
        if length is None or not length.isdigit() or int(length) > limit:
            return None
        return bearer_principal(scope["headers"], app.state.key_ring, Scopes.EVENTS_WRITE)

    async def shortcut(scope: Scope, receive: Receive) -> tuple[APIRoute, Response] | None:
        principal = taken(scope)
        if principal is None:
            return None
        try:
            raw = await collect(_chunks(receive), limit, events.EVENT_LIMIT)
            return route, await events.accept_event(use_case, settings, raw, principal)
        except ClientDisconnect:
            return route, Response(status_code=400)  # nobody is listening any more
        except HTTPException as error:
            return route, http_error_response(error)

    install_shortcut(app, shortcut)
