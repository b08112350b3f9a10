"""SendGrid webhook events as Rapport envelopes."""

from __future__ import annotations

from typing import Any

import pytest

from rapport_events.envelope import parse_event
from rapport_ingest.domain.admission import Problem
from rapport_ingest.domain.esp import envelope_from_sendgrid

BASE = {"email": "Ada@Example.com", "timestamp": 1779530400, "sg_event_id": "e-1",
        "sg_message_id": "m-1"}  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "kind", "properties"),
    [
        ({"event": "delivered"}, "email_sent", {"message_id": "m-1"}),
        ({"event": "open"}, "email_opened", {"message_id": "m-1"}),
        ({"event": "click", "url": "https://x.test/"}, "email_clicked",
         {"message_id": "m-1", "url": "https://x.test/"}),
        ({"event": "bounce", "type": "bounce"}, "email_bounced",
         {"message_id": "m-1", "bounce_type": "hard"}),
        ({"event": "bounce", "type": "blocked"}, "email_bounced",
         {"message_id": "m-1", "bounce_type": "soft"}),
        ({"event": "unsubscribe"}, "unsubscribed", {"purpose": "marketing", "message_id": "m-1"}),
        ({"event": "spamreport"}, "unsubscribed", {"purpose": "marketing", "message_id": "m-1"}),
        ({"event": "open", "marketing_campaign_id": 77}, "email_opened",
         {"message_id": "m-1", "campaign_id": "77"}),
    ],
)  # fmt: skip
def test_each_kind_maps_to_a_valid_event(
    extra: dict[str, Any], kind: str, properties: dict[str, Any]
) -> None:
    envelope = envelope_from_sendgrid({**BASE, **extra})
    assert isinstance(envelope, dict)
    assert envelope["type"] == kind
    assert envelope["properties"] == properties
    event = parse_event(envelope)
    assert event.channel == "email"
    assert event.identity.email == "ada@example.com"
    assert event.occurred_at.isoformat() == "2026-05-23T10:00:00+00:00"


def test_the_same_platform_event_always_gets_the_same_id() -> None:
    first = envelope_from_sendgrid({**BASE, "event": "open"})
    again = envelope_from_sendgrid({**BASE, "event": "open"})
    other = envelope_from_sendgrid({**BASE, "event": "open", "sg_event_id": "e-2"})
    assert isinstance(first, dict)
    assert isinstance(again, dict)
    assert isinstance(other, dict)
    assert first["event_id"] == again["event_id"] != other["event_id"]
    without = {key: value for key, value in BASE.items() if key != "sg_event_id"}
    a = envelope_from_sendgrid({**without, "event": "open"})
    b = envelope_from_sendgrid({**without, "event": "open"})
    assert isinstance(a, dict)
    assert isinstance(b, dict)
    assert a["event_id"] == b["event_id"]


def test_bookkeeping_events_are_ignored_and_junk_is_named() -> None:
    assert envelope_from_sendgrid({**BASE, "event": "processed"}) is None
    assert envelope_from_sendgrid({**BASE, "event": "deferred"}) is None
    assert envelope_from_sendgrid("open") == Problem(
        "(event)", "each webhook event must be a JSON object"
    )
    unknown = envelope_from_sendgrid({**BASE, "event": "teleported"})
    assert isinstance(unknown, Problem)
    assert unknown.field == "event"
    for stamp in ("yesterday", None, True, 1e20):
        problem = envelope_from_sendgrid({**BASE, "event": "open", "timestamp": stamp})
        assert isinstance(problem, Problem)
        assert problem.field == "timestamp"


@pytest.mark.parametrize("name", [{}, [], 7, None])
def test_an_event_name_that_is_not_a_string_is_named_not_a_crash(name: object) -> None:
    # schemathesis found `"event": {}` answered 500 (a dict is unhashable in the set lookup)
    problem = envelope_from_sendgrid({**BASE, "event": name})
    assert isinstance(problem, Problem)
    assert problem.field == "event"
