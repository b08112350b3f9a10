"""The response models of the profile API: the OpenAPI is the documentation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Interaction(BaseModel):
    event_id: uuid.UUID
    occurred_at: datetime = Field(description="when it happened (sender clock skew corrected)")
    channel: str
    type: str
    summary: str = Field(examples=["Bought 3 items for £42.50 in store leeds-01"])
    details: dict[str, Any]


class Timeline(BaseModel):
    profile_id: uuid.UUID = Field(description="the surviving profile")
    merged_from: uuid.UUID | None = Field(
        None, description="the id asked for, when it was merged into `profile_id`"
    )
    items: list[Interaction]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class IdentifierOut(BaseModel):
    kind: str
    value: str


class Lifecycle(BaseModel):
    stage: str = Field(examples=["at_risk"])
    why: str | None = Field(None, examples=["last purchase 200 days ago (over 180)"])


class Scores(BaseModel):
    recency: int | None = Field(None, ge=1, le=5)
    frequency: int | None = Field(None, ge=1, le=5)
    monetary: int | None = Field(None, ge=1, le=5)
    as_of: datetime | None = Field(None, description="when tiers and scores were last ranked")


class Complaint(BaseModel):
    case_id: str
    category: str | None
    severity: str | None
    opened_at: datetime | None


class Money(BaseModel):
    orders: int
    revenue: float = Field(description="purchases, web and store")
    refunds: float
    net_revenue: float
    average_order_value: float | None
    currency: str | None


class Card(BaseModel):
    """What the agent sees while the customer is on the line."""

    profile_id: uuid.UUID = Field(description="the surviving profile")
    merged_from: uuid.UUID | None = Field(
        None, description="the id asked for, when it was merged into `profile_id`"
    )
    merged_ids: list[uuid.UUID] = Field(description="profiles merged into this one")
    identities: list[IdentifierOut]
    traits: dict[str, Any]
    preferences: dict[str, Any]
    consent: dict[str, dict[str, bool]] = Field(
        description="purpose → channel → granted (`all` speaks for every channel)",
        examples=[{"marketing": {"email": False}}],
    )
    value_tier: str | None = Field(None, examples=["top"])
    scores: Scores
    lifecycle: Lifecycle | None
    channels: dict[str, int] = Field(description="interactions per channel")
    preferred_channel: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    purchases: Money
    open_complaints: list[Complaint]
    offers: dict[str, int] = Field(description="offers presented, accepted, declined")
    last_interactions: list[Interaction]


class Export(BaseModel):
    """Everything held about a customer (portability)."""

    exported_at: datetime
    card: Card
    timeline: list[Interaction]


class Erased(BaseModel):
    profile_id: uuid.UUID
    erased_at: datetime
    merged_ids: list[uuid.UUID]
    identifiers_erased: int
