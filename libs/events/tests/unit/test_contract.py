"""The event contract: what it accepts, how it normalises, and how it names what is wrong."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from rapport_events import properties as p
from rapport_events.codec import decode_event, encode_event
from rapport_events.envelope import EVENT_TYPES, parse_event, validation_problems
from rapport_events.identity import Identity, IdentityKind, identifier_hash, message_key


def envelope(type_: str, properties: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "channel": "web",
        "occurred_at": "2026-11-23T10:00:00+00:00",
        "identity": {"email": "ada@example.com"},
        "properties": properties,
        **overrides,
    }


def problems_of(data: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse_event(data)
    return validation_problems(caught.value)


def test_the_contract_covers_every_type_the_spec_lists() -> None:
    spec_types = [
        "page_viewed",
        "product_viewed",
        "cart_updated",
        "order_completed",
        "signed_up",
        "logged_in",
        "call_started",
        "call_ended",
        "complaint_logged",
        "case_resolved",
        "email_sent",
        "email_opened",
        "email_clicked",
        "email_bounced",
        "unsubscribed",
        "store_visited",
        "store_purchase",
        "product_returned",
        "identify",
        "consent_updated",
        "preference_stated",
        "feedback_given",
        "offer_presented",
        "offer_accepted",
        "offer_declined",
    ]
    assert sorted(EVENT_TYPES) == sorted(spec_types)


def test_an_order_is_parsed_into_typed_exact_properties() -> None:
    event = parse_event(
        envelope(
            "order_completed",
            {
                "order_id": "o-1",
                "items": [{"sku": "A1", "quantity": 3, "price": "0.10"}],
                "total": 0.3,
                "currency": "gbp",
                "coupon": "WELCOME",
            },
        )
    )
    assert isinstance(event.properties, p.OrderCompleted)
    assert event.properties.items[0].price == Decimal("0.10")
    assert event.properties.total == Decimal("0.3")
    assert event.properties.currency == "GBP"
    assert event.properties.model_extra == {"coupon": "WELCOME"}  # kept, not interpreted
    assert event.event_id is not None  # generated when the sender chose none


def test_identity_is_normalised() -> None:
    identity = Identity.model_validate(
        {"email": "  Ada@Example.COM ", "phone": "07700 900123", "loyalty_id": " L-1 "}
    )
    assert identity.email == "ada@example.com"
    assert identity.phone == "+447700900123"
    assert identity.loyalty_id == "L-1"


@pytest.mark.parametrize("kind", list(IdentityKind))
def test_any_one_identifier_is_enough(kind: IdentityKind) -> None:
    given = {"email": "ada@example.com", "phone": "+447700900123"}.get(kind.value, "X-1")
    assert Identity.model_validate({kind.value: given}).pairs() == [(kind, given)]


def test_phone_numbers_in_any_common_format_agree() -> None:
    spellings = ["+44 7700 900123", "07700-900-123", "(07700) 900123", "0044 7700 900123"]
    assert {Identity(phone=raw).phone for raw in spellings} == {"+447700900123"}


def test_phone_region_comes_from_the_validation_context() -> None:
    event = parse_event(
        envelope("page_viewed", {"url": "/"}, identity={"phone": "(201) 555-0123"}),
        phone_region="US",
    )
    assert event.identity.phone == "+12015550123"


@pytest.mark.parametrize(
    ("data", "field", "reason_part"),
    [
        (envelope("teleported", {}), "type", "unknown event type"),
        ({"channel": "web"}, "type", "required"),
        (envelope("page_viewed", {"url": "/"}, identity={}), "identity", "at least one identity"),
        (
            envelope("page_viewed", {"url": "/"}, identity={"email": "nope"}),
            "identity.email",
            "not a valid email address",
        ),
        (
            envelope("page_viewed", {"url": "/"}, identity={"customer_id": "   "}),
            "identity.customer_id",
            "at least 1 character",
        ),
        (envelope("page_viewed", {}), "properties.url", "required"),
        (envelope("page_viewed", {"url": "/"}, channel="fax"), "channel", "web"),
        (
            envelope("page_viewed", {"url": "/"}, occurred_at="2026-11-23T10:00:00"),
            "occurred_at",
            "timezone",
        ),
        (
            envelope(
                "order_completed", {"order_id": "o", "items": [], "total": 1, "currency": "GBP"}
            ),
            "properties.items",
            "at least 1",
        ),
        (
            envelope(
                "order_completed",
                {
                    "order_id": "o",
                    "total": 1,
                    "currency": "GBP",
                    "items": [{"sku": "A", "quantity": 0, "price": 1}],
                },
            ),
            "properties.items.0.quantity",
            "greater than 0",
        ),
        (
            envelope(
                "order_completed",
                {
                    "order_id": "o",
                    "total": -1,
                    "currency": "GBP",
                    "items": [{"sku": "A", "quantity": 1, "price": 1}],
                },
            ),
            "properties.total",
            "greater than or equal",
        ),
        (
            envelope(
                "store_purchase",
                {
                    "store_id": "s",
                    "receipt_id": "r",
                    "total": 1,
                    "currency": "pounds",
                    "items": [{"sku": "A", "quantity": 1, "price": 1}],
                },
            ),
            "properties.currency",
            "ISO 4217",
        ),
        (
            envelope(
                "product_returned",
                {
                    "items": [{"sku": "A", "quantity": 1, "price": 1}],
                    "refund": 1,
                    "currency": "GBP",
                },
            ),
            "properties",
            "order_id or receipt_id",
        ),
        (envelope("feedback_given", {"score": 9, "scale": "csat"}), "properties", "1–5"),
        (
            envelope("complaint_logged", {"case_id": "c", "severity": "apocalyptic"}),
            "properties.severity",
            "low",
        ),
        (
            envelope("consent_updated", {"purpose": "marketing", "channel": "email"}),
            "properties.granted",
            "required",
        ),
        (envelope("page_viewed", {"url": "/"}, surprise=1), "surprise", "not permitted"),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    data: dict[str, Any], field: str, reason_part: str
) -> None:
    problems = problems_of(data)
    assert any(
        problem["field"] == field and reason_part in problem["reason"] for problem in problems
    ), problems


def test_the_wire_format_round_trips() -> None:
    event = parse_event(
        envelope(
            "store_purchase",
            {
                "store_id": "leeds-01",
                "receipt_id": "r-9",
                "items": [{"sku": "A", "quantity": 2, "price": 19.99, "name": "Lamp"}],
                "total": 39.98,
                "currency": "GBP",
            },
            channel="store",
        )
    )
    wire = encode_event(event)
    assert b'"total":39.98' in wire  # money is a JSON number on the wire, as senders post it
    assert decode_event(wire) == event


def test_the_message_key_follows_the_strongest_identifier() -> None:
    both = Identity(anonymous_id="anon-1", email="ada@example.com")
    assert message_key(both) == identifier_hash(IdentityKind.EMAIL, "ada@example.com").encode()
    with_customer = Identity(customer_id="C-1", email="ada@example.com", loyalty_id="L-1")
    assert message_key(with_customer) == identifier_hash(IdentityKind.CUSTOMER_ID, "C-1").encode()
    assert b"ada" not in message_key(both)  # no personal data in keys
