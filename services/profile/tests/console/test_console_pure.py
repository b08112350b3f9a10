"""The console's pure parts: reading a search, building events, sealing sessions, the card."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from rapport_events.identity import IdentityKind
from rapport_profile.console.events import (
    CallLog,
    ComplaintAction,
    InvalidForm,
    call_events,
    offer_event,
    strongest_identifier,
)
from rapport_profile.console.present import card_view, money
from rapport_profile.console.search import SearchKind, candidates
from rapport_profile.console.session import Session, SessionSeal

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
IDENTITY = {"loyalty_id": "LOY-1"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Ada@Example.com", [IdentityKind.EMAIL]),
        ("07700 900123", [IdentityKind.PHONE, IdentityKind.LOYALTY_ID, IdentityKind.CUSTOMER_ID]),
        (
            "+44 (0)7700-900123",
            [IdentityKind.PHONE, IdentityKind.LOYALTY_ID, IdentityKind.CUSTOMER_ID],
        ),
        ("LOY-55501", [IdentityKind.LOYALTY_ID, IdentityKind.CUSTOMER_ID]),
    ],
)
def test_a_query_is_read_by_its_shape(query: str, expected: list[IdentityKind]) -> None:
    assert candidates(query, SearchKind.AUTO) == expected


def test_a_uuid_is_a_profile_id_and_a_chosen_kind_is_kept() -> None:
    pid = uuid.uuid4()
    assert candidates(str(pid), SearchKind.AUTO) == [pid]
    assert candidates("12345678", SearchKind.LOYALTY_ID) == [IdentityKind.LOYALTY_ID]
    assert candidates("not-a-uuid", SearchKind.PROFILE_ID) == []


def test_the_strongest_identifier_follows_the_key_rule() -> None:
    found = {"phone": ["+447700900123"], "email": ["a@example.com"], "loyalty_id": ["L-1"]}
    assert strongest_identifier(found) == {"loyalty_id": "L-1"}
    with pytest.raises(InvalidForm):
        strongest_identifier({})


def test_a_resolution_is_posted_before_the_call_that_ends_with_it() -> None:
    log = CallLog("refund issued", "sorry", ComplaintAction.RESOLVED, "case-9", "", "")
    resolved, ended = call_events(log, identity=IDENTITY, agent="agent-ada", now=NOW)
    assert resolved["type"] == "case_resolved"
    assert resolved["properties"] == {"case_id": "case-9", "resolution": "refund issued"}
    assert ended["type"] == "call_ended"
    assert ended["properties"]["outcome"] == "refund issued"
    for event in (resolved, ended):
        assert event["channel"] == "call_center"
        assert event["identity"] == IDENTITY
        assert event["context"]["agent_id"] == "agent-ada"


def test_an_opened_complaint_gets_a_new_case_and_bad_fields_are_named() -> None:
    log = CallLog("", "parcel lost", ComplaintAction.OPENED, "", "lost parcel", "high")
    opened, _ = call_events(log, identity=IDENTITY, agent="a", now=NOW)
    assert opened["properties"]["case_id"].startswith("case-")
    assert opened["properties"]["severity"] == "high"
    bad = CallLog("", "", ComplaintAction.OPENED, "", "x", "urgent")
    with pytest.raises(InvalidForm, match="severity"):
        call_events(bad, identity=IDENTITY, agent="a", now=NOW)
    with pytest.raises(InvalidForm, match="choose the open complaint"):
        call_events(
            CallLog("", "", ComplaintAction.RESOLVED, "", "", ""),
            identity=IDENTITY,
            agent="a",
            now=NOW,
        )


def test_an_offer_answer_is_presented_on_the_phone() -> None:
    offer = {"offer_id": "product-1", "kind": "product", "items": ["LAMP-1"], "channel": "web"}
    event = offer_event(offer, accepted=False, identity=IDENTITY, agent="a", now=NOW)
    assert event["type"] == "offer_declined"
    assert event["properties"]["channel"] == "call_center"
    assert event["properties"]["items"] == ["LAMP-1"]


def test_a_session_opens_only_untampered_and_fresh() -> None:
    seal = SessionSeal("secret", max_age_seconds=60)
    session = Session.start("rk_key")
    token = seal.seal(session)
    assert "rk_key" not in token
    assert seal.open(token) == session
    assert seal.open(token[:-3] + "abc") is None
    assert SessionSeal("other secret", 60).open(token) is None
    assert seal.open(None) is None
    assert session.csrf_ok(session.csrf_token)
    assert not session.csrf_ok("forged")
    assert not session.csrf_ok(None)


def test_the_card_reads_the_profile_model() -> None:
    card = {
        "profile_id": "p-1",
        "identities": [
            {"kind": "phone", "value": "+447700900123"},
            {"kind": "loyalty_id", "value": "L-1"},
        ],
        "traits": {"first_name": "Ada", "last_name": "Lovelace", "city": "London"},
        "consent": {"marketing": {"all": True, "email": False}},
        "value_tier": "top",
        "scores": {"recency": 5, "frequency": 4, "monetary": 5},
        "lifecycle": {"stage": "loyal", "why": "5 orders in a year"},
        "purchases": {"orders": 5, "revenue": 1234.5, "refunds": 0, "currency": "GBP"},
        "open_complaints": [
            {"case_id": "c-1", "category": "late", "severity": "high", "opened_at": None}
        ],
        "preferred_channel": "store",
    }
    view = card_view(card)
    assert view.name == "Ada Lovelace"
    assert list(view.identities) == ["loyalty_id", "phone"]  # strongest first
    assert {row.channel: row.state for row in view.consent}["email"] == "refused"
    assert {row.channel: row.state for row in view.consent}["sms"] == "granted"
    assert view.value_why == "Scores among all customers: recency 5/5, frequency 4/5, spend 5/5"
    assert view.lifecycle_why == "5 orders in a year"
    assert view.revenue == "£1,234.50"
    assert view.refunds is None
    assert [c.case_id for c in view.complaints] == ["c-1"]
    assert money(3, "SEK") == "3.00 SEK"
