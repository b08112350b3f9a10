"""Email-platform webhooks (SendGrid's event format) as Rapport touchpoint envelopes.

The platform posts an array of delivery events; each one we understand becomes an envelope
that then goes through the same validation and admission as any posted event. Event ids are
derived from the platform's own event id, so a webhook the platform retries dedupes downstream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from rapport_ingest.domain.admission import Problem

# A fixed namespace: the same SendGrid event always becomes the same Rapport event id.
ESP_NAMESPACE = uuid.UUID("6f6b1f1e-43a5-5c62-9a53-2f0e8b8f3c11")

# SendGrid event name → our event type. Delivery bookkeeping (processed, deferred, dropped)
# says nothing about the customer, so it is ignored rather than refused.
EVENT_TYPES = {
    "delivered": "email_sent",
    "open": "email_opened",
    "click": "email_clicked",
    "bounce": "email_bounced",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "spamreport": "unsubscribed",
}
IGNORED = frozenset({"processed", "deferred", "dropped", "group_resubscribe"})


def _event_id(item: dict[str, Any]) -> str:
    platform_id = item.get("sg_event_id")
    if not isinstance(platform_id, str) or not platform_id:
        platform_id = "|".join(
            str(item.get(name)) for name in ("email", "event", "timestamp", "sg_message_id")
        )
    return str(uuid.uuid5(ESP_NAMESPACE, platform_id))


def _occurred_at(raw: Any) -> str | Problem:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return Problem("timestamp", "must be a Unix time in seconds")
    try:
        return datetime.fromtimestamp(raw, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return Problem("timestamp", "is not a representable Unix time")


def envelope_from_sendgrid(item: Any) -> dict[str, Any] | Problem | None:
    """One SendGrid event as an envelope dict, a `Problem` if it cannot be read, or None if it
    is a kind of event Rapport does not record."""
    if not isinstance(item, dict):
        return Problem("(event)", "each webhook event must be a JSON object")
    name = item.get("event")
    if not isinstance(name, str):  # an object or list here is not hashable, let alone known
        return Problem("event", "must be the name of the email event, a string")
    if name in IGNORED:
        return None
    if name not in EVENT_TYPES:
        return Problem("event", f"unknown email event; expected one of: {', '.join(EVENT_TYPES)}")
    occurred_at = _occurred_at(item.get("timestamp"))
    if isinstance(occurred_at, Problem):
        return occurred_at
    message_id = item.get("sg_message_id") or item.get("smtp-id")
    kind = EVENT_TYPES[name]
    properties: dict[str, Any] = {"message_id": message_id}
    if kind == "email_clicked":
        properties["url"] = item.get("url")
    elif kind == "email_bounced":
        # SendGrid's "blocked" is a refusal that may pass later; "bounce" is a dead address.
        properties["bounce_type"] = "soft" if item.get("type") == "blocked" else "hard"
    elif kind == "unsubscribed":
        properties = {"purpose": "marketing", "message_id": message_id}
    campaign = item.get("marketing_campaign_id")
    if campaign is not None and kind in {"email_sent", "email_opened", "email_clicked"}:
        properties["campaign_id"] = str(campaign)
    # A field the platform left out is left out here too: the contract then says it is required.
    properties = {name: value for name, value in properties.items() if value is not None}
    context: dict[str, Any] = {"source": "sendgrid"}
    if isinstance(item.get("ip"), str):
        context["ip"] = item["ip"]
    if isinstance(item.get("useragent"), str):
        context["user_agent"] = item["useragent"][:1000]
    return {
        "event_id": _event_id(item),
        "type": kind,
        "channel": "email",
        "occurred_at": occurred_at,
        "identity": {"email": item.get("email")},
        "properties": properties,
        "context": context,
    }
