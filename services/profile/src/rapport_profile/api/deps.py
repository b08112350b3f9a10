"""Dependencies injected into the profile routes (async: FastAPI runs a sync dependency in
a thread pool, a hand-off that cost more than the work on every request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rapport_events.auth import Principal, Scope, require_scope
from rapport_events.db import Database
from rapport_events.kafka import Publisher
from rapport_profile.settings import ProfileSettings


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def database(request: Request) -> Database:
    """The app's database for the hot read routes, taken from the request they already have:
    each dependency FastAPI solves costs more CPU per request than the work it does here."""
    db: Database = request.app.state.db
    return db


async def get_publisher(request: Request) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


async def get_settings(request: Request) -> ProfileSettings:
    settings: ProfileSettings = request.app.state.settings
    return settings


DB = Annotated[Database, Depends(get_db)]
ProfilePublisher = Annotated[Publisher, Depends(get_publisher)]
Settings = Annotated[ProfileSettings, Depends(get_settings)]
Reader = Annotated[Principal, Depends(require_scope(Scope.PROFILES_READ))]
Eraser = Annotated[Principal, Depends(require_scope(Scope.PROFILES_ERASE))]
