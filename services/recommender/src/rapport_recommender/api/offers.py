"""`/v1/customers/{profile_id}/offers`: the ranked next-best offers for a customer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from rapport_events.codec import encode_json
from rapport_events.db import is_transient
from rapport_recommender.api.deps import Reader
from rapport_recommender.handlers import served_offers
from rapport_recommender.settings import RecommenderSettings

router = APIRouter(prefix="/v1/customers", tags=["offers"])
OFFERS_PATH = "/v1/customers/{profile_id}/offers"
DEFAULT_OFFERS = 5
MOST_OFFERS = 50


class Offer(BaseModel):
    offer_id: str
    kind: str = Field(
        examples=["product"],
        description="product, reward, service_recovery, win_back or abandoned_cart",
    )
    items: list[str] = Field(description="skus (empty for a reward or an apology)")
    score: float
    reason: str = Field(examples=["Often bought with the Linen Lamp you bought on 3 May"])
    channel: str = Field(examples=["web"], description="consented and under the contact cap")
    expires_at: datetime


class Offers(BaseModel):
    profile_id: uuid.UUID = Field(description="the surviving profile id of the customer")
    offers: list[Offer]


@router.get(
    "/{profile_id}/offers",
    response_model=Offers,
    summary="Ranked next-best offers",
    responses={503: {"description": "the database is unavailable; retry"}},
)
async def offers(
    profile_id: uuid.UUID,
    _: Reader,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MOST_OFFERS)] = DEFAULT_OFFERS,
) -> Response:
    return await offers_response(request.app, profile_id, limit)


async def offers_response(app: FastAPI, profile_id: uuid.UUID, limit: int) -> Response:
    """The answer of GET offers (the route's and the hot path's, api/hot.py)."""
    settings: RecommenderSettings = app.state.settings
    try:
        served = await served_offers(app.state.db, settings, profile_id, market=app.state.market)
    except Exception as error:
        if is_transient(error):
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "the recommender database is unavailable",
                headers={"Retry-After": "2"},
            ) from error
        raise
    # The stored offers are already in the shape of `Offers` (written by handlers.offers_json):
    # encoding them as they are spares validating every offer of every request.
    body = {"profile_id": str(served.survivor), "offers": served.offers[:limit]}
    return Response(encode_json(body), media_type="application/json")
