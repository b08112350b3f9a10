"""The card and the timeline as the agent reads them: pure functions from the API's JSON.

The console renders the profile API's public response models; this module is the one place that
knows their field names, and it reads them leniently (a field the card does not carry is left
out of the page, not an error) so that the card can grow without breaking the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rapport_events.identity import IdentityKind

CHANNELS = ("web", "call_center", "email", "store")
CHANNEL_LABELS = {"web": "Web", "call_center": "Call center", "email": "Email", "store": "Store"}
IDENTITY_LABELS = {
    "customer_id": "Customer no.",
    "loyalty_id": "Loyalty card",
    "email": "Email",
    "phone": "Phone",
    "anonymous_id": "Web visitor",
}
EVENT_TYPES = (
    "order_completed",
    "store_purchase",
    "product_returned",
    "complaint_logged",
    "case_resolved",
    "call_started",
    "call_ended",
    "email_sent",
    "email_opened",
    "email_clicked",
    "email_bounced",
    "unsubscribed",
    "store_visited",
    "page_viewed",
    "product_viewed",
    "cart_updated",
    "signed_up",
    "logged_in",
    "identify",
    "consent_updated",
    "preference_stated",
    "feedback_given",
    "offer_presented",
    "offer_accepted",
    "offer_declined",
)
CURRENCY_SIGNS = {"GBP": "£", "EUR": "€", "USD": "$"}


def label(name: str | None) -> str:
    """`order_completed` → `Order completed`."""
    if not name:
        return ""
    return CHANNEL_LABELS.get(name) or name.replace("_", " ").capitalize()


def identity_label(kind: str) -> str:
    return IDENTITY_LABELS.get(kind) or label(kind)


def when(value: Any) -> str:
    """An RFC 3339 time as the agent reads it: `12 Mar 2025, 14:03`."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime("%-d %b %Y, %H:%M")


def day(value: Any) -> str:
    return when(value).split(",")[0]


def money(amount: Any, currency: str | None = None) -> str:
    try:
        number = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    sign = CURRENCY_SIGNS.get((currency or "").upper())
    text = f"{number:,.2f}"
    return f"{sign}{text}" if sign else f"{text} {currency or ''}".strip()


def _get(data: Any, *path: str) -> Any:
    """`_get(card, "value", "tier")`: a nested field, or None where any step is missing."""
    for step in path:
        if not isinstance(data, dict):
            return None
        data = data.get(step)
    return data


def _first(data: dict[str, Any], *paths: tuple[str, ...]) -> Any:
    for path in paths:
        found = _get(data, *path)
        if found not in (None, "", [], {}):
            return found
    return None


def _plain(value: Any) -> Any:
    """A stated trait may come as `{"value": ..., "at": ...}`: the value is what shows."""
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def identities(card: dict[str, Any]) -> dict[str, list[str]]:
    """The card's identifiers, by kind, strongest kind first."""
    raw = card.get("identities") or card.get("identifiers") or {}
    found: dict[str, list[str]] = {}
    if isinstance(raw, dict):
        for kind, values in raw.items():
            listed = values if isinstance(values, list) else [values]
            found[kind] = [str(_plain(value)) for value in listed if value]
    elif isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, dict) and entry.get("kind") and entry.get("value"):
                found.setdefault(str(entry["kind"]), []).append(str(entry["value"]))
    order = [kind.value for kind in IdentityKind]
    return {
        kind: found[kind]
        for kind in sorted(found, key=lambda k: order.index(k) if k in order else len(order))
        if found[kind]
    }


@dataclass(frozen=True)
class Complaint:
    case_id: str
    category: str
    severity: str
    opened_at: str


@dataclass(frozen=True)
class ConsentRow:
    channel: str
    state: str  # "granted", "refused", "unknown"


@dataclass
class CardView:
    profile_id: str
    name: str
    identities: dict[str, list[str]]
    value_tier: str | None
    value_why: str | None
    lifecycle_stage: str | None
    lifecycle_why: str | None
    consent: list[ConsentRow]
    complaints: list[Complaint]
    orders: int | None
    revenue: str | None
    preferred_channel: str | None
    first_seen: str
    last_seen: str
    traits: list[tuple[str, str]] = field(default_factory=list)


def _complaints(card: dict[str, Any]) -> list[Complaint]:
    raw = _first(card, ("open_complaints",), ("complaints", "open"), ("open_cases",))
    if not isinstance(raw, list):
        return []
    return [
        Complaint(
            case_id=str(entry.get("case_id", "")),
            category=str(entry.get("category") or "complaint"),
            severity=str(entry.get("severity") or ""),
            opened_at=when(entry.get("opened_at")),
        )
        for entry in raw
        if isinstance(entry, dict)
    ]


def _consent(card: dict[str, Any]) -> list[ConsentRow]:
    raw = card.get("consent") or {}
    marketing = raw.get("marketing", raw) if isinstance(raw, dict) else {}
    rows = []
    for channel in ("email", "sms", "phone", "post", "web"):
        granted = _plain(marketing.get(channel)) if isinstance(marketing, dict) else None
        state = "unknown" if granted is None else ("granted" if granted else "refused")
        rows.append(ConsentRow(channel, state))
    return rows


def card_view(card: dict[str, Any]) -> CardView:
    traits = card.get("traits") or {}
    first = _plain(traits.get("first_name")) or ""
    last = _plain(traits.get("last_name")) or ""
    found = identities(card)
    name = f"{first} {last}".strip() or next(
        (values[0] for values in found.values()), "Unnamed customer"
    )
    orders = _first(card, ("orders",), ("orders", "count"), ("purchases", "orders"))
    revenue = _first(card, ("revenue",), ("net_revenue",), ("orders", "revenue"))
    currency = _first(card, ("currency",), ("orders", "currency"))
    shown_traits = [
        (label(key), str(_plain(value)))
        for key, value in traits.items()
        if key not in ("first_name", "last_name") and _plain(value) not in (None, "")
    ]
    return CardView(
        profile_id=str(card.get("profile_id", "")),
        name=name,
        identities=found,
        value_tier=_first(card, ("value_tier",), ("value", "tier")),
        value_why=_first(card, ("value_why",), ("value_reason",), ("value", "why")),
        lifecycle_stage=_first(card, ("lifecycle_stage",), ("lifecycle", "stage")),
        lifecycle_why=_first(card, ("lifecycle_why",), ("lifecycle_reason",), ("lifecycle", "why")),
        consent=_consent(card),
        complaints=_complaints(card),
        orders=orders if isinstance(orders, int) else None,
        revenue=money(revenue, currency) if revenue is not None else None,
        preferred_channel=_first(card, ("preferred_channel",)),
        first_seen=when(_first(card, ("first_seen",), ("first_seen_at",))),
        last_seen=when(_first(card, ("last_seen",), ("last_seen_at",))),
        traits=shown_traits,
    )
