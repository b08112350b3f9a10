"""A profile's folded state to and from its row (columns plus the JSONB `state` document)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from rapport_profile.domain.profile import Case, ProfileState, Stated


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _stated_out(mapping: dict[str, Stated]) -> dict[str, Any]:
    return {key: {"value": s.value, "at": s.at.isoformat()} for key, s in mapping.items()}


def _stated_in(raw: Mapping[str, Any] | None) -> dict[str, Stated]:
    return {
        key: Stated(entry["value"], datetime.fromisoformat(entry["at"]))
        for key, entry in (raw or {}).items()
    }


def state_document(state: ProfileState) -> str:
    """The JSONB part of the row, serialised."""
    country = state.context_country
    return orjson.dumps(
        {
            "currency": state.currency,
            "recent_orders": [at.isoformat() for at in state.recent_orders],
            "first_order_at": _iso(state.first_order_at),
            "channels": state.channels,
            "inbound_channels": state.inbound_channels,
            "traits": _stated_out(state.traits),
            "preferences": _stated_out(state.preferences),
            "consent": _stated_out(state.consent),
            "cases": {
                case_id: {
                    "opened_at": _iso(case.opened_at),
                    "resolved_at": _iso(case.resolved_at),
                    "category": case.category,
                    "severity": case.severity,
                }
                for case_id, case in state.cases.items()
            },
            "offers": state.offers,
            "context_country": None
            if country is None
            else {"value": country.value, "at": country.at.isoformat()},
        }
    ).decode()


def from_row(row: Mapping[str, Any]) -> ProfileState:
    raw = row["state"]
    doc: dict[str, Any] = orjson.loads(raw) if isinstance(raw, str | bytes) else dict(raw or {})
    country = doc.get("context_country")
    profile_id = row["profile_id"]
    revenue, refunds = row["revenue"], row["refunds"]
    return ProfileState(
        # The driver's UUID and Decimal already are the right types: no round trip via str.
        profile_id=profile_id if isinstance(profile_id, uuid.UUID) else uuid.UUID(profile_id),
        created_at=row["created_at"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        orders=row["orders"],
        revenue=revenue if isinstance(revenue, Decimal) else Decimal(revenue),
        refunds=refunds if isinstance(refunds, Decimal) else Decimal(refunds),
        currency=doc.get("currency"),
        recent_orders=[datetime.fromisoformat(at) for at in doc.get("recent_orders", [])],
        first_order_at=_time(doc.get("first_order_at")),
        channels=dict(doc.get("channels", {})),
        inbound_channels=dict(doc.get("inbound_channels", {})),
        traits=_stated_in(doc.get("traits")),
        preferences=_stated_in(doc.get("preferences")),
        consent=_stated_in(doc.get("consent")),
        cases={
            case_id: Case(
                opened_at=_time(entry.get("opened_at")),
                resolved_at=_time(entry.get("resolved_at")),
                category=entry.get("category"),
                severity=entry.get("severity"),
            )
            for case_id, entry in doc.get("cases", {}).items()
        },
        offers=dict(doc.get("offers", {})),
        context_country=None
        if country is None
        else Stated(country["value"], datetime.fromisoformat(country["at"])),
        value_tier=row["value_tier"],
        lifecycle_stage=row["lifecycle_stage"],
        recency_score=row["recency_score"],
        frequency_score=row["frequency_score"],
        monetary_score=row["monetary_score"],
        version=row["version"],
    )


def with_columns(state: ProfileState, row: Mapping[str, Any]) -> ProfileState:
    """A state held in memory (its document part is current) refreshed from its row's columns."""
    state.created_at = row["created_at"]
    state.first_seen = row["first_seen"]
    state.last_seen = row["last_seen"]
    state.orders = row["orders"]
    state.revenue = row["revenue"]
    state.refunds = row["refunds"]
    state.value_tier = row["value_tier"]
    state.lifecycle_stage = row["lifecycle_stage"]
    state.recency_score = row["recency_score"]
    state.frequency_score = row["frequency_score"]
    state.monetary_score = row["monetary_score"]
    state.version = row["version"]
    return state
