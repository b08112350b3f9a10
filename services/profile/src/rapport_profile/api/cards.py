"""Assemble the card from its one-query read (the profile row, its identifiers, merged ids and
last interactions) as a plain JSON document shaped like the `Card` model.

The hot path serialises the document straight to JSON (see `responses`): pydantic's
validation and serialisation of the same data cost more CPU than the query. The `Card` model
stays the contract: it documents the response in the OpenAPI, export validates the document
through it, and a unit test holds the two serialisations byte for byte equal.
"""

from __future__ import annotations

import uuid
from typing import Any

from rapport_profile.store.reads import CardRow
from rapport_profile.store.state_codec import from_row

LAST_INTERACTIONS = 5


def _consent(stated: dict[str, Any]) -> dict[str, dict[str, bool]]:
    consent: dict[str, dict[str, bool]] = {}
    for key, value in sorted(stated.items()):
        purpose, channel = key.split(":", 1)
        consent.setdefault(purpose, {})[channel] = bool(value.value)
    return consent


def card_document(found: CardRow, asked: uuid.UUID) -> dict[str, Any] | None:
    """The card as `Card` would serialise it (same fields, same order), or None when the
    snapshot holds no live profile."""
    row, survivor = found.profile, found.resolved.survivor
    if row is None or survivor is None:
        return None
    state = from_row(row)
    average = state.average_order_value
    return {
        "profile_id": survivor,
        "merged_from": asked if asked != survivor else None,
        "merged_ids": found.merged_ids,
        "identities": [{"kind": kind, "value": value} for kind, value in found.identifiers],
        "traits": {name: stated.value for name, stated in sorted(state.traits.items())},
        "preferences": {key: stated.value for key, stated in sorted(state.preferences.items())},
        "consent": _consent(dict(state.consent)),
        "value_tier": state.value_tier,
        "scores": {
            "recency": state.recency_score,
            "frequency": state.frequency_score,
            "monetary": state.monetary_score,
            "as_of": row["scores_at"],
        },
        "lifecycle": None
        if state.lifecycle_stage is None
        else {"stage": state.lifecycle_stage, "why": row["lifecycle_why"]},
        "channels": state.channels,
        "preferred_channel": state.preferred_channel,
        "first_seen": state.first_seen,
        "last_seen": state.last_seen,
        "purchases": {
            "orders": state.orders,
            "revenue": float(state.revenue),
            "refunds": float(state.refunds),
            "net_revenue": float(state.net_revenue),
            "average_order_value": None if average is None else float(average),
            "currency": state.currency,
        },
        "open_complaints": [
            {
                "case_id": case_id,
                "category": case.category,
                "severity": case.severity,
                "opened_at": case.opened_at,
            }
            for case_id, case in sorted(state.open_cases.items())
        ],
        "offers": state.offers,
        "last_interactions": found.recent,
    }
