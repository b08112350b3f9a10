"""`/v1/customers/{profile_id}/offers`: the ranked next-best offers for a customer."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from rapport_events.envelope import now_utc
from rapport_recommender.api.deps import DB, Reader
from rapport_recommender.store import queries

router = APIRouter(prefix="/v1/customers", tags=["offers"])


class Offer(BaseModel):
    offer_id: str
    kind: str = Field(examples=["product"])
    items: list[str] = Field(description="skus")
    score: float
    reason: str = Field(examples=["Popular with our customers right now"])
    channel: str = Field(examples=["web"])
    expires_at: datetime


class Offers(BaseModel):
    profile_id: uuid.UUID
    offers: list[Offer]


@router.get("/{profile_id}/offers", response_model=Offers, summary="Ranked next-best offers")
async def offers(
    profile_id: uuid.UUID,
    _: Reader,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> Offers:
    async with db.connection() as conn:
        popular = await queries.most_popular(conn, limit)
    top = popular[0][2] if popular else 1
    expires = now_utc() + timedelta(days=7)
    return Offers(
        profile_id=profile_id,
        offers=[
            Offer(
                offer_id=f"popular-{sku}",
                kind="product",
                items=[sku],
                score=round(count / top, 4),
                reason=f"Popular with our customers: {name or sku}",
                channel="web",
                expires_at=expires,
            )
            for sku, name, count in popular
        ],
    )
