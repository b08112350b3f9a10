from __future__ import annotations

from typing import Any

from rapport_profile.domain.summary import money, summarize


def test_money_uses_the_currency_symbol() -> None:
    assert money(42.5, "GBP") == "£42.50"
    assert money(1200, "USD") == "$1,200.00"
    assert money(9.99, "eur") == "€9.99"
    assert money(10, "CHF") == "10.00 CHF"


def test_store_purchase_says_what_where_and_how_much(make_event: Any) -> None:
    event = make_event(
        "store_purchase",
        {"loyalty_id": "L1"},
        {
            "store_id": "leeds-01",
            "receipt_id": "r1",
            "items": [
                {"sku": "A", "quantity": 2, "price": 10},
                {"sku": "B", "quantity": 1, "price": 22.5},
            ],
            "total": 42.5,
            "currency": "GBP",
        },
        channel="store",
    )
    assert summarize(event) == "Bought 3 items for £42.50 in store leeds-01"


def test_complaint_call_and_email_open(make_event: Any) -> None:
    complaint = make_event(
        "complaint_logged",
        {"phone": "+447700900123"},
        {"case_id": "c1", "category": "late delivery"},
        channel="call_center",
    )
    assert summarize(complaint) == "Called about late delivery — complaint opened"
    opened = make_event(
        "email_opened", {"email": "a@example.com"}, {"message_id": "m", "subject": "Spring sale"}
    )
    assert summarize(opened) == "Opened email ‘Spring sale’"


def test_summaries_never_carry_identifiers(make_event: Any) -> None:
    event = make_event(
        "order_completed",
        {"email": "ada@example.com"},
        {
            "order_id": "o1",
            "items": [{"sku": "A", "quantity": 1, "price": 5}],
            "total": 5,
            "currency": "EUR",
        },
    )
    assert summarize(event) == "Ordered 1 item for €5.00 online"
    assert "ada" not in summarize(event)
