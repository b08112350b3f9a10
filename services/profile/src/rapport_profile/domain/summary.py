"""One-line human summaries of interactions, for the timeline an agent reads during a call.

A summary never names the customer or any identifier: it says what happened, with the money
and the place, so that an agent can scan twenty lines in a few seconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rapport_events import properties as p
from rapport_events.envelope import TouchpointEvent

CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def money(amount: Decimal | float | int, currency: str | None) -> str:
    """`£42.50`, `€9.99`, `$1,200.00`; other currencies as `42.50 CHF`."""
    text = f"{Decimal(str(amount)):,.2f}"
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{symbol}{text}"
    return f"{text} {code}".strip()


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _quantity(items: list[p.Item]) -> int:
    return sum(item.quantity for item in items)


def _quoted(text: str | None) -> str:
    return f" ‘{text}’" if text else ""


def summarize(event: TouchpointEvent) -> str:  # noqa: PLR0911, PLR0912 - one branch per type
    """A short sentence saying what happened. Never includes identifiers."""
    props: Any = event.properties
    # On the type tag, which the envelope binds to the properties class: class patterns on
    # pydantic models (ABCs) cost an instance check each, most of them misses.
    match event.type:
        case "order_completed":
            return (
                f"Ordered {_items(_quantity(props.items))} for "
                f"{money(props.total, props.currency)} online"
            )
        case "store_purchase":
            return (
                f"Bought {_items(_quantity(props.items))} for "
                f"{money(props.total, props.currency)} in store {props.store_id}"
            )
        case "product_returned":
            where = f" in store {event.context.store_id}" if event.context.store_id else ""
            return (
                f"Returned {_items(_quantity(props.items))}{where}, refunded "
                f"{money(props.refund, props.currency)}"
            )
        case "cart_updated":
            if not props.items:
                return "Emptied the cart"
            value = f" worth {money(props.value, props.currency)}" if props.value else ""
            return f"Cart now holds {_items(_quantity(props.items))}{value}"
        case "product_viewed":
            return f"Viewed product {props.name or props.sku}"
        case "page_viewed":
            return f"Viewed page{_quoted(props.title)}" if props.title else "Viewed a page"
        case "signed_up":
            return "Signed up" + (f" with {props.method}" if props.method else "")
        case "logged_in":
            return "Logged in"
        case "call_started":
            return "Called" + (f" about {props.reason}" if props.reason else "")
        case "call_ended":
            minutes = (
                f" after {max(1, round(props.duration_s / 60))} min" if props.duration_s else ""
            )
            outcome = f" — {props.outcome}" if props.outcome else ""
            return f"Call ended{minutes}{outcome}"
        case "complaint_logged":
            verb = "Called" if event.channel == "call_center" else "Complained"
            about = f" about {props.category}" if props.category else ""
            severity = f" ({props.severity.value} severity)" if props.severity else ""
            return f"{verb}{about} — complaint opened{severity}"
        case "case_resolved":
            how = f": {props.resolution}" if props.resolution else ""
            return f"Complaint resolved{how}"
        case "email_clicked":
            return "Clicked a link in an email"
        case "email_opened":
            return f"Opened email{_quoted(props.subject)}"
        case "email_sent":
            return f"Was sent email{_quoted(props.subject)}"
        case "email_bounced":
            return f"Email bounced ({props.bounce_type.value})"
        case "unsubscribed":
            return f"Unsubscribed from {props.purpose.value} email"
        case "store_visited":
            return f"Visited store {props.store_id}"
        case "identify":
            return "Updated their details"
        case "consent_updated":
            verb = "Gave" if props.granted else "Withdrew"
            return f"{verb} {props.purpose.value} consent for {props.channel.value}"
        case "preference_stated":
            return f"Said their {props.key.replace('_', ' ')} is {props.value}"
        case "feedback_given":
            top = 10 if props.scale is p.FeedbackScale.NPS else 5
            return f"Gave feedback: {props.score}/{top} ({props.scale.value})"
        case "offer_accepted":
            return f"Accepted a {props.kind} offer"
        case "offer_declined":
            return f"Declined a {props.kind} offer"
        case "offer_presented":
            return f"Was offered a {props.kind} offer by {props.channel.replace('_', ' ')}"
    return event.type.replace("_", " ").capitalize()
