"""`/v1/customers`: look a customer up, read the card and the dialogue history; export and
erase (privacy).

- A merged-away id answers with the survivor's card and timeline: `profile_id` is the survivor,
  `merged_from` the id asked for (no redirect: call-center software then needs no second trip).
- An erased id answers 410 Gone with the erasure date; an unknown one 404.
- Export needs `profiles:erase` (the privacy officer's scope), not merely `profiles:read`:
  an agent reads a card, only the privacy officer takes everything out.
- The card and timeline are the call-center's hot path: one statement on a bare driver
  connection, the body serialised once (`responses.json_body`); `response_model=` keeps them
  documented as `Card` and `Timeline`.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_events.db import Database
from rapport_events.envelope import EVENT_TYPES, Channel
from rapport_events.identity import IdentityKind, normalize_email, normalize_phone
from rapport_profile import handlers
from rapport_profile.api.cards import LAST_INTERACTIONS, card_document
from rapport_profile.api.deps import DB, Eraser, ProfilePublisher, Reader, Settings, database
from rapport_profile.api.models import Card, Erased, Export, Interaction, Timeline
from rapport_profile.api.responses import json_body
from rapport_profile.store import queries, reads

router = APIRouter(prefix="/v1/customers", tags=["customers"])

ProfileId = Annotated[uuid.UUID, "a profile id (a merged-away one answers with its survivor)"]


def _encode_cursor(occurred_at: datetime, event_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        when, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        occurred_at = datetime.fromisoformat(when)
        if occurred_at.tzinfo is None:
            raise ValueError("naive time")
        return occurred_at, uuid.UUID(event_id)
    except ValueError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="cursor: not a cursor this API issued; pass `next_cursor` from a page",
        ) from None


def _live(resolved: reads.Resolved) -> uuid.UUID:
    """The survivor of a resolved id, or the 410/404 an agent's software should show."""
    if resolved.erased_at is not None:
        raise HTTPException(
            status.HTTP_410_GONE,
            detail=f"this customer was erased on {resolved.erased_at.date().isoformat()}",
        )
    if resolved.survivor is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no customer with this id")
    return resolved.survivor


async def _survivor(conn: AsyncConnection, profile_id: uuid.UUID) -> uuid.UUID:
    survivor, erased_at = await queries.resolve(conn, profile_id)
    return _live(reads.Resolved(survivor, erased_at))


async def _card(conn: asyncpg.Connection, profile_id: uuid.UUID) -> dict[str, Any]:
    found = await reads.card(conn, profile_id, recent=LAST_INTERACTIONS)
    _live(found.resolved)
    card = card_document(found, profile_id)
    if card is None:  # not reachable from one snapshot, but never a 500
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no customer with this id")
    return card


@router.get("/lookup", response_model=Card, summary="Resolve an identifier to its profile card")
async def lookup(
    _: Reader,
    db: DB,
    settings: Settings,
    email: str | None = None,
    phone: str | None = Query(None, description="any common spelling; national numbers in GB"),
    loyalty_id: str | None = None,
    customer_id: str | None = None,
    anonymous_id: str | None = None,
) -> Response:
    given = {
        IdentityKind.EMAIL: email,
        IdentityKind.PHONE: phone,
        IdentityKind.LOYALTY_ID: loyalty_id,
        IdentityKind.CUSTOMER_ID: customer_id,
        IdentityKind.ANONYMOUS_ID: anonymous_id,
    }
    return await lookup_response(db, settings.phone_region, given)


async def lookup_response(
    db: Database, phone_region: str, given: dict[IdentityKind, str | None]
) -> Response:
    """The lookup route's answer, or its 400/404 raised (shared with `api.hot`)."""
    present = [(kind, value) for kind, value in given.items() if value is not None]
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
            value = normalize_phone(value, phone_region)
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"{kind}: {error}") from None
    value = value.strip()
    if not value:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"{kind}: must not be blank")
    async with db.reader() as conn:
        profile_id = await reads.lookup(conn, kind.value, value)
        if profile_id is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"no customer found with this {kind}"
            )
        return json_body(await _card(conn, profile_id))


async def card_response(db: Database, profile_id: uuid.UUID) -> Response:
    """The card route's answer (shared with the hot path in `api.hot`)."""
    async with db.reader() as conn:
        return json_body(await _card(conn, profile_id))


@router.get("/{profile_id}", response_model=Card, summary="The profile card")
async def card(profile_id: uuid.UUID, _: Reader, request: Request) -> Response:
    return await card_response(database(request), profile_id)


def check_type(type_: str | None) -> None:
    if type_ is not None and type_ not in EVENT_TYPES:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"type: unknown event type; expected one of: {', '.join(EVENT_TYPES)}",
        )


async def timeline_response(
    db: Database,
    profile_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    channel: str | None,
    type_: str | None,
) -> Response:
    """The timeline route's answer once its parameters are valid (shared with `api.hot`)."""
    before = _decode_cursor(cursor) if cursor else None
    async with db.reader() as conn:
        found = await reads.timeline_page(
            conn, profile_id, limit=limit + 1, before=before, channel=channel, type_=type_
        )
    survivor, rows = _live(found.resolved), found.items
    page, more = rows[:limit], len(rows) > limit
    return json_body(
        {  # the shape of `Timeline`
            "profile_id": survivor,
            "merged_from": profile_id if profile_id != survivor else None,
            "items": page,
            "next_cursor": _encode_cursor(page[-1]["occurred_at"], page[-1]["event_id"])
            if more
            else None,
        }
    )


@router.get("/{profile_id}/timeline", response_model=Timeline, summary="The dialogue history")
async def timeline(
    profile_id: uuid.UUID,
    _: Reader,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: str | None = None,
    channel: Channel | None = None,
    type: str | None = Query(None, description="an event type, e.g. order_completed"),
) -> Response:
    check_type(type)
    return await timeline_response(
        database(request),
        profile_id,
        limit=limit,
        cursor=cursor,
        channel=None if channel is None else channel.value,
        type_=type,
    )


@router.get(
    "/{profile_id}/export",
    response_model=Export,
    summary="Everything held about the customer (portability; needs profiles:erase)",
)
async def export(profile_id: uuid.UUID, _: Eraser, db: DB) -> Export:
    async with db.reader() as reader:
        card = Card.model_validate(await _card(reader, profile_id))
    async with db.connection() as conn:
        rows = await queries.timeline(conn, card.profile_id, limit=None)
    return Export(
        exported_at=datetime.now(UTC),
        card=card,
        timeline=[Interaction.model_validate(row) for row in rows],
    )


@router.delete(
    "/{profile_id}",
    response_model=Erased,
    summary="Erase the customer: personal data gone here and, via Kafka, in the recommender",
)
async def erase(
    profile_id: uuid.UUID,
    request: Request,
    _: Eraser,
    db: DB,
    publisher: ProfilePublisher,
    settings: Settings,
) -> Erased:
    async with db.connection() as conn:
        await _survivor(conn, profile_id)  # 404 / 410 before any write
    erasure = await handlers.erase_customer(
        db,
        publisher,
        settings.kafka.topics.profile_changes,
        profile_id,
        cache=request.app.state.profile_cache,  # this process's fold forgets them at once
    )
    if erasure is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no customer with this id")
    return Erased(
        profile_id=erasure.profile_id,
        erased_at=erasure.erased_at,
        merged_ids=erasure.merged_ids,
        identifiers_erased=len(erasure.identifier_hashes),
    )
