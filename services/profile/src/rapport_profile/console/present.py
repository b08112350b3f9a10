"""The card and the timeline as the agent reads them: pure functions from the API's JSON.

The console renders the profile API's public response models (`rapport_profile.api.models`) as
JSON, like any other client; this module is the one place that knows their field names. A field
that is empty is left out of the page rather than shown blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rapport_events.identity import IdentityKind

CHANNELS = ("web", "call_center", "email", "store")
CHANNEL_LABELS = {
    "web": "Web",
    "call_center": "Call center",
    "email": "Email",
    "store": "Store",
    "sms": "SMS",
}
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


def identities(card: dict[str, Any]) -> dict[str, list[str]]:
    """The card's identifiers, by kind, strongest kind first."""
    found: dict[str, list[str]] = {}
    for entry in card.get("identities") or []:
        if isinstance(entry, dict) and entry.get("kind") and entry.get("value"):
            found.setdefault(str(entry["kind"]), []).append(str(entry["value"]))
    order = [kind.value for kind in IdentityKind]
    return {
        kind: found[kind]
        for kind in sorted(found, key=lambda k: order.index(k) if k in order else len(order))
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
    refunds: str | None
    preferred_channel: str | None
    first_seen: str
    last_seen: str
    traits: list[tuple[str, str]] = field(default_factory=list)


def _complaints(card: dict[str, Any]) -> list[Complaint]:
    raw = card.get("open_complaints")
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
    """Marketing consent per channel; a statement for `all` speaks for every channel."""
    raw = card.get("consent") or {}
    marketing = raw.get("marketing") if isinstance(raw, dict) else None
    marketing = marketing if isinstance(marketing, dict) else {}
    rows = []
    for channel in ("email", "sms", "phone", "post", "web"):
        granted = marketing.get(channel, marketing.get("all"))
        state = "unknown" if granted is None else ("granted" if granted else "refused")
        rows.append(ConsentRow(channel, state))
    return rows


def value_why(card: dict[str, Any]) -> str | None:
    """The value tier explained by its RFM scores (quintiles among every customer)."""
    scores = card.get("scores") or {}
    parts = [
        f"{name} {scores[key]}/5"
        for key, name in (("recency", "recency"), ("frequency", "frequency"), ("monetary", "spend"))
        if isinstance(scores.get(key), int)
    ]
    if not parts:
        return None
    return "Scores among all customers: " + ", ".join(parts)


def card_view(card: dict[str, Any]) -> CardView:
    traits = card.get("traits") or {}
    first = traits.get("first_name") or ""
    last = traits.get("last_name") or ""
    found = identities(card)
    name = f"{first} {last}".strip() or next(
        (values[0] for values in found.values()), "Unnamed customer"
    )
    orders = _get(card, "purchases", "orders")
    revenue = _get(card, "purchases", "revenue")
    refunds = _get(card, "purchases", "refunds")
    currency = _get(card, "purchases", "currency")
    shown_traits = [
        (label(key), str(value))
        for key, value in traits.items()
        if key not in ("first_name", "last_name") and value not in (None, "")
    ]
    return CardView(
        profile_id=str(card.get("profile_id", "")),
        name=name,
        identities=found,
        value_tier=card.get("value_tier"),
        value_why=value_why(card),
        lifecycle_stage=_get(card, "lifecycle", "stage"),
        lifecycle_why=_get(card, "lifecycle", "why"),
        consent=_consent(card),
        complaints=_complaints(card),
        orders=orders if isinstance(orders, int) else None,
        revenue=money(revenue, currency) if revenue is not None else None,
        refunds=money(refunds, currency) if refunds else None,
        preferred_channel=card.get("preferred_channel"),
        first_seen=when(card.get("first_seen")),
        last_seen=when(card.get("last_seen")),
        traits=shown_traits,
    )
