"""A customer across every channel, through ingest's HTTP API into one profile card."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support.keys import ApiKeys
from support.servers import eventually
from support.stack import Stack

pytestmark = pytest.mark.e2e


def _event(
    type_: str, channel: str, identity: dict[str, str], props: dict[str, Any], at: datetime
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "channel": channel,
        "occurred_at": at.isoformat(),
        "identity": identity,
        "properties": props,
    }


async def test_one_customer_across_web_store_call_center_and_email(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    anon, email, loyalty = f"anon-{tag}", f"ada-{tag}@example.com", f"LOY-{tag}"
    phone_digits = f"7700{int(tag, 16) % 900000 + 100000}"
    start = datetime.now(UTC) - timedelta(hours=2)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    journey = [
        _event(
            "page_viewed",
            "web",
            {"anonymous_id": anon},
            {"url": "/garden", "title": "Garden"},
            at(0),
        ),
        _event(
            "order_completed",
            "web",
            {"anonymous_id": anon, "email": email},
            {
                "order_id": "o-1",
                "items": [{"sku": "LAMP-1", "quantity": 2, "price": 21.25}],
                "total": 42.5,
                "currency": "GBP",
            },
            at(5),
        ),
        _event(
            "signed_up", "web", {"anonymous_id": anon, "email": email}, {"method": "email"}, at(4)
        ),
        _event(
            "store_purchase",
            "store",
            {"loyalty_id": loyalty},
            {
                "store_id": "leeds-01",
                "receipt_id": "r-1",
                "items": [{"sku": "POT-2", "quantity": 3, "price": 10}],
                "total": 30,
                "currency": "GBP",
            },
            at(30),
        ),
        _event(
            "call_started",
            "call_center",
            {"loyalty_id": loyalty, "phone": f"0{phone_digits}", "email": email},
            {"call_id": "call-1", "reason": "order status"},
            at(60),
        ),
        _event(
            "email_clicked",
            "email",
            {"email": email},
            {"message_id": "m-1", "url": "https://shop/x"},
            at(70),
        ),
        _event(
            "complaint_logged",
            "call_center",
            {"phone": f"+44 {phone_digits}"},
            {"case_id": "case-1", "category": "late delivery", "severity": "high"},
            at(90),
        ),
    ]
    writer = ApiKeys.bearer(stack.keys.writer)
    for event in journey:
        posted = await http.post(f"{stack.ingest}/v1/events", json=event, headers=writer)
        assert posted.status_code == 202, posted.text
    # A duplicate delivery of the store purchase counts once.
    assert (
        await http.post(f"{stack.ingest}/v1/events", json=journey[3], headers=writer)
    ).status_code == 202

    reader = ApiKeys.bearer(stack.keys.reader)

    async def settled() -> dict[str, Any] | None:
        found = await http.get(
            f"{stack.profile}/v1/customers/lookup",
            params={"phone": f"0{phone_digits[:4]} {phone_digits[4:]}"},
            headers=reader,
        )
        if found.status_code != 200:
            return None
        card: dict[str, Any] = found.json()
        return card if card["open_complaints"] and card["purchases"]["orders"] == 2 else None

    card = await eventually(settled, timeout=30)
    for params in ({"email": email.upper()}, {"loyalty_id": loyalty}, {"anonymous_id": anon}):
        same = await http.get(f"{stack.profile}/v1/customers/lookup", params=params, headers=reader)
        assert same.json()["profile_id"] == card["profile_id"]
    assert card["purchases"]["revenue"] == 72.5
    assert card["purchases"]["orders"] == 2
    assert [c["case_id"] for c in card["open_complaints"]] == ["case-1"]
    assert card["channels"] == {"web": 3, "store": 1, "call_center": 2, "email": 1}
    assert card["lifecycle"]["stage"] == "new"
    assert {i["kind"] for i in card["identities"]} == {
        "anonymous_id",
        "email",
        "loyalty_id",
        "phone",
    }

    timeline = await http.get(
        f"{stack.profile}/v1/customers/{card['profile_id']}/timeline", headers=reader
    )
    items = timeline.json()["items"]
    assert [i["event_id"] for i in items] == [
        e["event_id"] for e in sorted(journey, key=lambda e: e["occurred_at"], reverse=True)
    ]
    summaries = [i["summary"] for i in items]
    assert "Bought 3 items for £30.00 in store leeds-01" in summaries
    assert "Called about late delivery — complaint opened (high severity)" in summaries

    page1 = await http.get(
        f"{stack.profile}/v1/customers/{card['profile_id']}/timeline",
        params={"limit": 4},
        headers=reader,
    )
    page2 = await http.get(
        f"{stack.profile}/v1/customers/{card['profile_id']}/timeline",
        params={"limit": 4, "cursor": page1.json()["next_cursor"]},
        headers=reader,
    )
    assert [i["event_id"] for i in page1.json()["items"] + page2.json()["items"]] == [
        i["event_id"] for i in items
    ]
    assert page2.json()["next_cursor"] is None
    web_only = await http.get(
        f"{stack.profile}/v1/customers/{card['profile_id']}/timeline",
        params={"channel": "web"},
        headers=reader,
    )
    assert {i["channel"] for i in web_only.json()["items"]} == {"web"}
    assert len(web_only.json()["items"]) == 3
