"""What every Rapport HTTP service has in common, written once.

`create_app` builds the FastAPI app with the key ring, the error shape, metrics and probes;
`serve` runs it under uvicorn with graceful shutdown (SIGTERM lets in-flight requests and the
consumer's current batch finish).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from rapport_events.auth import KeyRing
from rapport_events.heap import settle_heap
from rapport_events.observability import Check, configure_logging, health_router, instrument
from rapport_events.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

# Rapport counts and times requests itself (`instrument`). FastAPI's native OpenTelemetry, on
# by default, looks for global providers on every request even when none is configured: ~4 µs
# a request, a tenth of a trivial endpoint's cost in the framework.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def error_body(status_code: int, detail: Any) -> dict[str, Any]:
    """The one error shape: `{"error": {"status": 422, "message": ..., "problems": [...]}}`."""
    if isinstance(detail, dict) and "message" in detail:
        return {"error": {"status": status_code, **detail}}
    return {"error": {"status": status_code, "message": str(detail)}}


def http_error_response(error: StarletteHTTPException) -> JSONResponse:
    """An HTTPException as every route answers it (also for paths served outside routing)."""
    return JSONResponse(
        error_body(error.status_code, error.detail),
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


def create_app(
    *,
    title: str,
    description: str,
    settings: ServiceSettings,
    checks: dict[str, Check],
    lifespan: Lifespan,
    readiness_details: Callable[[], Awaitable[dict[str, Any]]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        telemetry=NO_NATIVE_TELEMETRY,
    )
    app.state.settings = settings
    app.state.key_ring = KeyRing.from_json(settings.api_keys.get_secret_value())
    app.include_router(health_router(checks, readiness_details))
    instrument(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return http_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(part) for part in item["loc"] if part != "body"),
                "reason": item["msg"],
            }
            for item in error.errors()
        ]
        return JSONResponse(
            error_body(422, {"message": "the request is not valid", "problems": problems}),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    return app


Shortcut = Callable[[Scope, Receive], Awaitable[tuple[APIRoute, Response] | None]]


class _Shortcuts:
    def __init__(self, app: ASGIApp, shortcut: Shortcut) -> None:
        self.app = app
        self._shortcut = shortcut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            taken = await self._shortcut(scope, receive)
            if taken is not None:
                route, response = taken
                scope["route"] = route  # what the router records (request metrics read it)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_shortcut(app: FastAPI, shortcut: Shortcut) -> None:
    """Answer some requests before FastAPI's routing, whose dependency and parameter solving
    cost a hot path more CPU than its own work. `shortcut` returns the route it stands for and
    its answer, or None to hand the request on to the routes untouched (it must then have
    consumed nothing). Installed innermost of the app's middleware (Starlette wraps the first
    listed outermost): request metrics and CORS still see every request, FastAPI's exception
    handlers do not, so a shortcut answers its errors itself (`http_error_response`)."""
    app.user_middleware.append(Middleware(_Shortcuts, shortcut=shortcut))


class _Process:
    """The uvicorn server this process runs under `serve`, and whether a part of it failed."""

    server: uvicorn.Server | None = None
    failed = False


def stop_failed_process() -> None:
    """A part the service cannot work without (its consumer) has stopped for good: under
    `serve`, shut down as on SIGTERM and exit with status 1, so that the orchestrator starts a
    fresh process (which resumes from the committed offsets) instead of keeping one that
    answers HTTP but no longer folds. An app run otherwise (tests) is left to its host."""
    if _Process.server is not None:
        _Process.failed = True
        _Process.server.should_exit = True


class _Server(uvicorn.Server):
    """uvicorn's server, the heap settled once the app has started (`settle_heap`)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_heap()


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(settings.log_level, json=settings.log_json)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=25,
        timeout_keep_alive=settings.keep_alive_seconds,
        proxy_headers=False,
    )
    _Process.server = _Server(config)
    _Process.server.run()
    if _Process.failed:
        raise SystemExit(1)
