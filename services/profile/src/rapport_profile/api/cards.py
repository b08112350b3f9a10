"""Assemble the card from the store: the profile row, its identifiers, its last interactions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_profile.api.models import (
    Card,
    Complaint,
    IdentifierOut,
    Interaction,
    Lifecycle,
    Money,
    Scores,
)
from rapport_profile.store import queries

LAST_INTERACTIONS = 5


def _consent(stated: dict[str, Any]) -> dict[str, dict[str, bool]]:
    consent: dict[str, dict[str, bool]] = {}
    for key, value in sorted(stated.items()):
        purpose, channel = key.split(":", 1)
        consent.setdefault(purpose, {})[channel] = bool(value.value)
    return consent


async def load_card(conn: AsyncConnection, survivor: uuid.UUID, asked: uuid.UUID) -> Card | None:
    row = await queries.profile(conn, survivor)
    if row is None:
        return None
    state = queries.state_of(row)
    identifiers = await queries.identifiers_of(conn, survivor)
    merged_ids = await queries.merged_into(conn, survivor)
    recent = await queries.timeline(conn, survivor, limit=LAST_INTERACTIONS)
    return Card(
        profile_id=survivor,
        merged_from=asked if asked != survivor else None,
        merged_ids=merged_ids,
        identities=[IdentifierOut(kind=kind, value=value) for kind, value in identifiers],
        traits={name: stated.value for name, stated in sorted(state.traits.items())},
        preferences={key: stated.value for key, stated in sorted(state.preferences.items())},
        consent=_consent(dict(state.consent)),
        value_tier=state.value_tier,
        scores=Scores(
            recency=state.recency_score,
            frequency=state.frequency_score,
            monetary=state.monetary_score,
            as_of=row["scores_at"],
        ),
        lifecycle=None
        if state.lifecycle_stage is None
        else Lifecycle(stage=state.lifecycle_stage, why=row["lifecycle_why"]),
        channels=state.channels,
        preferred_channel=state.preferred_channel,
        first_seen=state.first_seen,
        last_seen=state.last_seen,
        purchases=Money(
            orders=state.orders,
            revenue=float(state.revenue),
            refunds=float(state.refunds),
            net_revenue=float(state.net_revenue),
            average_order_value=None
            if state.average_order_value is None
            else float(state.average_order_value),
            currency=state.currency,
        ),
        open_complaints=[
            Complaint(
                case_id=case_id,
                category=case.category,
                severity=case.severity,
                opened_at=case.opened_at,
            )
            for case_id, case in sorted(state.open_cases.items())
        ],
        offers=state.offers,
        last_interactions=[Interaction.model_validate(item) for item in recent],
    )
