"""Admission: channel rights, the time window after skew correction, IP truncation, and how
contract violations become refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rapport_events.envelope import EVENT_ADAPTER, parse_event
from rapport_ingest.api.examples import example_event
from rapport_ingest.domain.admission import Reason, Refused, TimeWindow, admit, refusal

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(max_age=timedelta(days=366), max_ahead=timedelta(minutes=15))


def anyone(_channel: str) -> bool:
    return True


def parsed(at: datetime, **change: Any) -> Any:
    data = {**example_event("page_viewed", at=at), **change}
    return parse_event(data)


def test_admitting_stamps_received_at_and_the_corrected_time() -> None:
    sent = NOW + timedelta(hours=1)  # the sender's clock is an hour fast
    event = parsed(sent, sent_at=sent.isoformat())
    admitted = admit(event, NOW, WINDOW, anyone)
    assert admitted.received_at == NOW
    assert admitted.timestamp == NOW
    assert admitted.occurred_at == sent
    assert admitted.context.ip == "203.0.113.0"
    assert event.context.ip == "203.0.113.77"  # the original is not mutated


@pytest.mark.parametrize(
    ("shift", "why"),
    [
        (timedelta(minutes=16), Reason.IN_FUTURE),
        (timedelta(days=-367), Reason.TOO_OLD),
    ],
)
def test_events_outside_the_window_are_refused(shift: timedelta, why: Reason) -> None:
    event = parsed(NOW + shift, sent_at=None)
    with pytest.raises(Refused) as refused:
        admit(event, NOW, WINDOW, anyone)
    assert refused.value.why is why
    assert refused.value.problems[0].field == "occurred_at"


@pytest.mark.parametrize("shift", [timedelta(minutes=14), timedelta(days=-365)])
def test_events_inside_the_window_are_admitted(shift: timedelta) -> None:
    assert admit(parsed(NOW + shift, sent_at=None), NOW, WINDOW, anyone).timestamp == NOW + shift


def test_a_forbidden_channel_is_refused_before_anything_else() -> None:
    event = parsed(NOW + timedelta(days=3), sent_at=None)  # also in the future
    with pytest.raises(Refused) as refused:
        admit(event, NOW, WINDOW, lambda channel: channel == "store")
    assert refused.value.why is Reason.FORBIDDEN_CHANNEL
    assert str(refused.value) == "channel: this API key may not write events on the web channel"


def test_an_event_without_ip_keeps_its_context() -> None:
    data = example_event("page_viewed", at=NOW)
    del data["context"]["ip"]
    admitted = admit(parse_event(data), NOW, WINDOW, anyone)
    assert admitted.context.ip is None
    assert admitted.context.source == "storefront"


def _refusal(raw: bytes) -> Refused:
    with pytest.raises(ValidationError) as error:
        EVENT_ADAPTER.validate_json(raw)
    return refusal(error.value)


def test_refusal_reasons_are_a_closed_set_told_apart() -> None:
    assert _refusal(b"{nope").why is Reason.MALFORMED
    assert _refusal(b"[1]").why is Reason.MALFORMED
    assert _refusal(b'{"type": "teleported"}').why is Reason.UNKNOWN_TYPE
    invalid = _refusal(b'{"type": "page_viewed"}')
    assert invalid.why is Reason.INVALID
    assert {problem.field for problem in invalid.problems} >= {"channel", "identity"}


def test_a_skew_correction_past_the_calendar_is_refused_not_crashed() -> None:
    data = example_event("page_viewed", at=NOW)
    data["occurred_at"] = "0001-01-01T00:00:00Z"
    data["sent_at"] = "9999-01-01T00:00:00Z"
    with pytest.raises(Refused) as refused:
        admit(parse_event(data), NOW, WINDOW, anyone)
    assert refused.value.why is Reason.INVALID
    assert refused.value.problems[0].field == "sent_at"
