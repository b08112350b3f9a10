"""`/v1/customers`: look a customer up, read the card and the dialogue history."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from rapport_events.identity import IdentityKind, normalize_email, normalize_phone
from rapport_profile.api.deps import DB, Reader
from rapport_profile.store import queries

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class Interaction(BaseModel):
    event_id: uuid.UUID
    occurred_at: datetime
    channel: str
    type: str
    summary: str
    details: dict[str, Any]


class Timeline(BaseModel):
    profile_id: uuid.UUID
    items: list[Interaction]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class CustomerRef(BaseModel):
    profile_id: uuid.UUID


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail="no customer with this id")


def _encode_cursor(occurred_at: datetime, event_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        when, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(when), uuid.UUID(event_id)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="the cursor is not valid") from None


@router.get("/lookup", response_model=CustomerRef, summary="Resolve an identifier to its profile")
async def lookup(
    _: Reader,
    db: DB,
    email: str | None = None,
    phone: str | None = None,
    loyalty_id: str | None = None,
    customer_id: str | None = None,
    anonymous_id: str | None = None,
) -> CustomerRef:
    given = {
        IdentityKind.EMAIL: email,
        IdentityKind.PHONE: phone,
        IdentityKind.LOYALTY_ID: loyalty_id,
        IdentityKind.CUSTOMER_ID: customer_id,
        IdentityKind.ANONYMOUS_ID: anonymous_id,
    }
    present = [(kind, value) for kind, value in given.items() if value]
    if len(present) != 1:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="give exactly one of email, phone, loyalty_id, customer_id, anonymous_id",
        )
    kind, value = present[0]
    try:
        if kind is IdentityKind.EMAIL:
            value = normalize_email(value)
        elif kind is IdentityKind.PHONE:
            value = normalize_phone(value)
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"{kind}: {error}") from None
    async with db.connection() as conn:
        profile_id = await queries.lookup(conn, kind, value.strip())
    if profile_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no customer found with this {kind}")
    return CustomerRef(profile_id=profile_id)


@router.get("/{profile_id}/timeline", response_model=Timeline, summary="The dialogue history")
async def timeline(
    profile_id: uuid.UUID,
    _: Reader,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: str | None = None,
) -> Timeline:
    before = _decode_cursor(cursor) if cursor else None
    async with db.connection() as conn:
        survivor = await queries.survivor_of(conn, profile_id)
        if survivor is None:
            raise _not_found()
        rows = await queries.timeline(conn, survivor, limit=limit + 1, before=before)
    page, more = rows[:limit], len(rows) > limit
    return Timeline(
        profile_id=survivor,
        items=[Interaction.model_validate(row) for row in page],
        next_cursor=_encode_cursor(page[-1]["occurred_at"], page[-1]["event_id"]) if more else None,
    )
