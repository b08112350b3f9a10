"""One complete example per event type, every field filled in: the OpenAPI shows them, and the
tests post every one of them, so an example that drifts from the contract fails a test."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

ITEM = {"sku": "85123A", "name": "White hanging heart T-light holder", "category": "home",
        "quantity": 2, "price": 2.55}  # fmt: skip
OFFER = {"offer_id": "off-5d1a", "kind": "product", "items": ["85123A"], "channel": "email"}

# type → (channel, properties)
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "page_viewed": ("web", {"url": "https://shop.example.com/garden", "title": "Garden",
                            "referrer": "https://www.example.org/"}),
    "product_viewed": ("web", {"sku": "85123A", "name": "White hanging heart T-light holder",
                               "category": "home", "price": 2.55, "currency": "GBP"}),
    "cart_updated": ("web", {"cart_id": "cart-9912", "items": [ITEM], "value": 5.10,
                             "currency": "GBP"}),
    "order_completed": ("web", {"order_id": "ord-1001", "items": [ITEM], "total": 8.60,
                                "currency": "GBP", "discount": 0.5, "shipping": 3.95,
                                "tax": 1.02}),
    "signed_up": ("web", {"method": "email"}),
    "logged_in": ("web", {"method": "password"}),
    "call_started": ("call_center", {"call_id": "call-77", "reason": "late delivery"}),
    "call_ended": ("call_center", {"call_id": "call-77", "duration_s": 312,
                                   "outcome": "resolved", "note": "courier re-booked"}),
    "complaint_logged": ("call_center", {"case_id": "case-501", "category": "late delivery",
                                         "severity": "high",
                                         "description": "order ord-1001 is a week late"}),
    "case_resolved": ("call_center", {"case_id": "case-501", "resolution": "refunded shipping",
                                      "satisfaction": 4}),
    "email_sent": ("email", {"message_id": "msg-3310", "campaign_id": "spring-sale",
                             "subject": "Spring in the garden"}),
    "email_opened": ("email", {"message_id": "msg-3310", "campaign_id": "spring-sale",
                               "subject": "Spring in the garden"}),
    "email_clicked": ("email", {"message_id": "msg-3310", "url": "https://shop.example.com/garden",
                                "campaign_id": "spring-sale"}),
    "email_bounced": ("email", {"message_id": "msg-3310", "bounce_type": "hard"}),
    "unsubscribed": ("email", {"purpose": "marketing", "message_id": "msg-3310"}),
    "store_visited": ("store", {"store_id": "leeds-01"}),
    "store_purchase": ("store", {"store_id": "leeds-01", "receipt_id": "rcpt-88120",
                                 "items": [ITEM], "total": 5.10, "currency": "GBP"}),
    "product_returned": ("store", {"order_id": "ord-1001", "receipt_id": "rcpt-88120",
                                   "items": [ITEM], "refund": 5.10, "currency": "GBP",
                                   "reason": "damaged"}),
    "identify": ("web", {"traits": {"first_name": "Ada", "last_name": "Lovelace",
                                    "city": "London", "country": "GB", "language": "en",
                                    "birthday": "1990-12-10"}}),
    "consent_updated": ("web", {"purpose": "marketing", "channel": "email", "granted": True}),
    "preference_stated": ("call_center", {"key": "favourite_category", "value": "garden"}),
    "feedback_given": ("web", {"score": 9, "scale": "nps", "topic": "delivery",
                               "comment": "quick and friendly"}),
    "offer_presented": ("email", dict(OFFER)),
    "offer_accepted": ("web", {**OFFER, "channel": "web"}),
    "offer_declined": ("call_center", {**OFFER, "channel": "call_center"}),
}  # fmt: skip

IDENTITY = {"customer_id": "C-100234", "anonymous_id": "anon-7f3c2a", "email": "ada@example.com",
            "phone": "+44 7700 900123", "loyalty_id": "LOY-55501"}  # fmt: skip
CONTEXT = {"source": "storefront", "store_id": "leeds-01", "agent_id": "agent-12",
           "campaign_id": "spring-sale", "country": "GB", "region": "West Yorkshire",
           "locale": "en-GB", "user_agent": "Mozilla/5.0", "ip": "203.0.113.77"}  # fmt: skip


def example_event(kind: str, *, at: datetime | None = None) -> dict[str, Any]:
    """A complete envelope of `kind`; `at` (default: now) sets `occurred_at` and `sent_at`."""
    channel, properties = EXAMPLES[kind]
    when = (at or datetime.now(UTC)).isoformat()
    return {
        "event_id": "0b7e8f3a-9c1d-4e2f-8a6b-5d4c3b2a1f00",
        "type": kind,
        "channel": channel,
        "occurred_at": when,
        "sent_at": when,
        "identity": dict(IDENTITY),
        "properties": copy.deepcopy(properties),
        "context": dict(CONTEXT),
    }


SENDGRID_EXAMPLE = [
    {"email": "ada@example.com", "timestamp": 1779530400, "event": "open",
     "sg_event_id": "sg-evt-1", "sg_message_id": "msg-3310", "useragent": "Mozilla/5.0",
     "ip": "203.0.113.77"},
    {"email": "ada@example.com", "timestamp": 1779530460, "event": "click",
     "sg_event_id": "sg-evt-2", "sg_message_id": "msg-3310",
     "url": "https://shop.example.com/garden"},
    {"email": "ada@example.com", "timestamp": 1779530520, "event": "unsubscribe",
     "sg_event_id": "sg-evt-3", "sg_message_id": "msg-3310"},
]  # fmt: skip
