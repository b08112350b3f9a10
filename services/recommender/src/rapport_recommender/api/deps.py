"""Dependencies injected into the recommender routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rapport_events.auth import Principal, Scope, require_scope
from rapport_events.db import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DB = Annotated[Database, Depends(get_db)]
Reader = Annotated[Principal, Depends(require_scope(Scope.OFFERS_READ))]
