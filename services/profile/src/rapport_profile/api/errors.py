"""Transient database failures answer 503 with Retry-After, never 500."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from rapport_events.db import is_transient
from rapport_events.service import error_body


def install_database_errors(app: FastAPI) -> None:
    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        if not is_transient(error):
            raise error
        return JSONResponse(
            error_body(503, "the profile store is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": "2"},
        )

    for kind in (
        DBAPIError,
        OSError,
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.InterfaceError,
        # The reads run on bare asyncpg (no DBAPIError around it): a server shutting down
        # or starting up answers 57P01-57P03 as these.
        asyncpg.exceptions.OperatorInterventionError,
    ):
        app.add_exception_handler(kind, unavailable)
