"""The hot read paths serialise plain documents with orjson instead of going through the
response models: the bytes must be exactly what the models would have produced."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from pydantic import TypeAdapter

from rapport_profile.api.cards import card_document
from rapport_profile.api.models import Card, Timeline
from rapport_profile.api.responses import dumps
from rapport_profile.domain.profile import Case, ProfileState, Stated
from rapport_profile.store.reads import CardRow, Resolved, _interactions
from rapport_profile.store.state_codec import state_document

AT = datetime(2026, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)


class DriverUuid(uuid.UUID):
    """Like asyncpg's own UUID type: a subclass orjson does not serialise by itself."""


def _row(state: ProfileState) -> dict[str, Any]:
    return {
        "profile_id": str(state.profile_id),
        "created_at": state.created_at,
        "first_seen": state.first_seen,
        "last_seen": state.last_seen,
        "orders": state.orders,
        "revenue": state.revenue,
        "refunds": state.refunds,
        "value_tier": state.value_tier,
        "lifecycle_stage": state.lifecycle_stage,
        "lifecycle_why": "last purchase 30 days ago",
        "recency_score": state.recency_score,
        "frequency_score": state.frequency_score,
        "monetary_score": state.monetary_score,
        "scores_at": AT,
        "version": state.version,
        "state": state_document(state),
    }


def _found(state: ProfileState, *, merged: list[uuid.UUID], recent: str | None) -> CardRow:
    return CardRow(
        resolved=Resolved(state.profile_id, None),
        profile=_row(state),
        identifiers=[("email", "ada@example.com"), ("phone", "+447700900123")],
        merged_ids=merged,
        recent=_interactions(recent),
    )


def _model_bytes(model: Any, document: dict[str, Any]) -> bytes:
    return TypeAdapter(model).dump_json(TypeAdapter(model).validate_python(document))


def test_a_full_card_serialises_exactly_as_the_card_model_would() -> None:
    survivor = uuid.uuid4()
    state = ProfileState(
        profile_id=survivor,
        created_at=AT - timedelta(days=400),
        first_seen=AT - timedelta(days=400),
        last_seen=AT.astimezone(timezone(timedelta(hours=1))),
        orders=3,
        revenue=Decimal("120.50"),
        refunds=Decimal("10"),
        currency="GBP",
        channels={"web": 6, "store": 1, "call_center": 2},
        inbound_channels={"web": 6, "call_center": 2},
        traits={"first_name": Stated("Ada", AT), "vip": Stated(True, AT)},
        preferences={"size": Stated("M", AT), "tags": Stated(["a", 1.5, None], AT)},
        consent={"marketing:email": Stated(False, AT), "marketing:all": Stated(True, AT)},
        cases={
            "c-2": Case(opened_at=AT, category="delivery", severity="high"),
            "c-1": Case(opened_at=AT, resolved_at=AT),
            "c-3": Case(opened_at=AT),
        },
        offers={"presented": 2, "accepted": 1},
        value_tier="top",
        lifecycle_stage="active",
        recency_score=5,
        frequency_score=1,
        monetary_score=3,
    )
    recent = orjson.dumps(
        [
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": "2026-05-01T10:00:00.5+00:00",
                "channel": "store",
                "type": "store_purchase",
                "summary": "Bought 3 items for £42.50 in store leeds-01",
                "details": {"total": 42.5, "items": [{"sku": "B", "quantity": 3}], "n": 1e16},
            },
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": "2026-04-30T23:59:59+01:00",
                "channel": "web",
                "type": "page_viewed",
                "summary": "Viewed /p/1",
                "details": {},
            },
        ]
    ).decode()
    asked = DriverUuid(str(uuid.uuid4()))
    document = card_document(
        _found(state, merged=[DriverUuid(str(asked)), uuid.uuid4()], recent=recent), asked
    )
    assert document is not None
    assert document["merged_from"] == asked
    assert [c["case_id"] for c in document["open_complaints"]] == ["c-2", "c-3"]
    assert dumps(document) == _model_bytes(Card, document)


def test_a_bare_card_serialises_exactly_as_the_card_model_would() -> None:
    state = ProfileState(profile_id=uuid.uuid4(), created_at=AT)
    document = card_document(_found(state, merged=[], recent=None), state.profile_id)
    assert document is not None
    assert document["merged_from"] is None
    assert document["lifecycle"] is None
    assert dumps(document) == _model_bytes(Card, document)


def test_a_timeline_page_serialises_exactly_as_the_timeline_model_would() -> None:
    item = {
        "event_id": DriverUuid(str(uuid.uuid4())),
        "occurred_at": AT,
        "channel": "email",
        "type": "email_opened",
        "summary": "Opened “Spring sale”",
        "details": {"campaign_id": "spring", "context": {"locale": "en-GB"}},
    }
    for next_cursor, merged_from in ((None, None), ("abc", DriverUuid(str(uuid.uuid4())))):
        document = {
            "profile_id": uuid.uuid4(),
            "merged_from": merged_from,
            "items": [item, {**item, "occurred_at": AT - timedelta(microseconds=1)}],
            "next_cursor": next_cursor,
        }
        assert dumps(document) == _model_bytes(Timeline, document)
