"""Property-based checks of the event contract as ingest uses it: whatever valid envelope a
sender builds survives validate → admit → encode → decode unchanged; every spelling of one
phone number is one identifier; money is exact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport_events.codec import decode_event, encode_event
from rapport_events.envelope import EVENT_TYPES, parse_event
from rapport_events.identity import normalize_phone
from rapport_ingest.api.examples import example_event
from rapport_ingest.domain.admission import TimeWindow, admit

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(max_age=timedelta(days=366), max_ahead=timedelta(minutes=15))

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=30,
)
money = st.decimals(min_value=0, max_value=Decimal("9999999999.9999"), places=4)
identities = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": texts,
        "anonymous_id": texts,
        "loyalty_id": texts,
        "email": st.emails(),
        "phone": st.sampled_from(["+44 7700 900123", "07700900456", "+1 650 253 0000"]),
    },
).filter(bool)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(EVENT_TYPES))
    occurred = NOW - draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=300)))
    offset = timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60)))
    event = example_event(kind, at=occurred.astimezone(UTC))
    event["occurred_at"] = occurred.astimezone(timezone(offset)).isoformat()
    del event["sent_at"]
    event["event_id"] = str(draw(st.uuids()))
    event["identity"] = draw(identities)
    properties = event["properties"]
    for name in ("total", "refund", "value", "price", "discount"):
        if isinstance(properties.get(name), float):  # preference_stated's value is text
            properties[name] = float(draw(money))
    for item in properties.get("items", []):
        if isinstance(item, dict):
            item["price"] = float(draw(money))
            item["quantity"] = draw(st.integers(1, 1_000_000))
            item["name"] = draw(texts)
    if draw(st.booleans()):
        properties["extra_note"] = draw(texts)  # unknown properties are kept
    if draw(st.booleans()):
        del event["context"]
    return event


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(envelopes())
def test_any_valid_envelope_round_trips_through_the_wire(data: dict[str, Any]) -> None:
    admitted = admit(parse_event(data), NOW, WINDOW, lambda _: True)
    wire = encode_event(admitted)
    decoded = decode_event(wire)
    assert decoded == admitted
    assert encode_event(decoded) == wire
    assert decoded.event_id == uuid.UUID(data["event_id"])
    assert decoded.timestamp == decoded.occurred_at  # no sent_at: nothing to correct
    if decoded.context.ip is not None:
        assert decoded.context.ip.endswith(".0")


@given(
    subscriber=st.integers(0, 999_999),
    spelling=st.sampled_from(
        [
            "+44 7700 {a}{b}",
            "+447700{a}{b}",
            "07700 {a} {b}",
            "07700{a}{b}",
            "(07700) {a}-{b}",
            "0044 7700 {a} {b}",
            "+44 (0)7700 {a}{b}",
            "+44-7700-{a}-{b}",
        ]
    ),
)
def test_every_spelling_of_one_phone_number_normalises_equal(
    subscriber: int, spelling: str
) -> None:
    digits = f"{subscriber:06d}"
    written = spelling.format(a=digits[:3], b=digits[3:])
    assert normalize_phone(written, "GB") == f"+447700{digits}"


@settings(max_examples=300)
@given(total=money, price=money)
def test_money_is_exact_through_the_wire(total: Decimal, price: Decimal) -> None:
    data = example_event("order_completed", at=NOW)
    data["properties"]["total"] = str(total)  # senders may post strings or numbers
    data["properties"]["items"][0]["price"] = float(price)
    decoded = decode_event(encode_event(parse_event(data)))
    assert decoded.properties.total == total  # type: ignore[attr-defined]
    assert decoded.properties.items[0].price == price  # type: ignore[attr-defined]
