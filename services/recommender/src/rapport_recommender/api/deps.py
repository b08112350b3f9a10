"""Dependencies injected into the recommender routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from rapport_events.auth import Principal, Scope, require_scope

Reader = Annotated[Principal, Depends(require_scope(Scope.OFFERS_READ))]
