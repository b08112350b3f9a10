"""Helpers the console's end-to-end tests share: signing in over plain HTTP, seeding customers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from support.keys import ApiKeys
from support.stack import Stack

_TOKEN = re.compile(r'name="(?:signin_token|csrf_token)" value="([^"]+)"')


def form_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page carries no form token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """Sign in as a browser would: fetch the form (and its cookie), post it back."""
    form = await client.get("/console/signin")
    assert form.status_code == 200
    return await client.post(
        "/console/signin", data={"api_key": key, "signin_token": form_token(form.text)}
    )


def event(
    type_: str, channel: str, identity: dict[str, str], properties: dict[str, Any], ago_min: int
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "channel": channel,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=ago_min)).isoformat(),
        "identity": identity,
        "properties": properties,
    }


def customer_story(tag: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """One customer seen on every channel: identified on the web (email, phone and loyalty
    card together, marketing consent given), a web order, a store purchase by loyalty card,
    a complaint by phone."""
    phone_digits = f"7700{int(tag, 16) % 1_000_000:06d}"
    ids = {
        "email": f"grace-{tag}@example.com",
        "phone": f"+44{phone_digits}",
        "loyalty_id": f"LOY-{tag}",
        "phone_local": f"0{phone_digits[:4]} {phone_digits[4:]}",
    }
    events = [
        event(
            "identify",
            "web",
            {"email": ids["email"], "phone": ids["phone"], "loyalty_id": ids["loyalty_id"]},
            {"traits": {"first_name": "Grace", "last_name": "Hopper", "city": "Leeds"}},
            ago_min=300,
        ),
        event(
            "consent_updated",
            "web",
            {"email": ids["email"]},
            {"purpose": "marketing", "channel": "all", "granted": True},
            ago_min=290,
        ),
        event(
            "order_completed",
            "web",
            {"email": ids["email"]},
            {
                "order_id": f"web-{tag}",
                "items": [{"sku": "LAMP-1", "name": "Linen lamp", "quantity": 1, "price": 42.5}],
                "total": 42.5,
                "currency": "GBP",
            },
            ago_min=240,
        ),
        event(
            "store_purchase",
            "store",
            {"loyalty_id": ids["loyalty_id"]},
            {
                "store_id": "leeds-01",
                "receipt_id": f"rcpt-{tag}",
                "items": [{"sku": "MUG-2", "name": "Stoneware mug", "quantity": 2, "price": 9}],
                "total": 18,
                "currency": "GBP",
            },
            ago_min=120,
        ),
        event(
            "complaint_logged",
            "call_center",
            {"phone": ids["phone"]},
            {"case_id": f"case-{tag}", "category": "late delivery", "severity": "high"},
            ago_min=60,
        ),
    ]
    return ids, events


async def seed(stack: Stack, events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for item in events:
            posted = await client.post(
                f"{stack.ingest}/v1/events", json=item, headers=ApiKeys.bearer(stack.keys.writer)
            )
            assert posted.status_code == 202, posted.text
