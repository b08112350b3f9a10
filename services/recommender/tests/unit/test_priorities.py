"""How soon a batch's facts must reach each customer's offers: the re-ranker's order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from rapport_events.properties import ConsentChannel, ConsentPurpose
from rapport_recommender.domain.facts import RULE_TYPES, Priority, Touchpoint, facts_of

AT = datetime(2026, 5, 3, 10, tzinfo=UTC)


def touchpoint(kind: str, subject: str, at: datetime = AT, **properties: object) -> Touchpoint:
    return Touchpoint(uuid.uuid4(), kind, subject, at, None, SimpleNamespace(**properties))


def line(sku: str) -> SimpleNamespace:
    return SimpleNamespace(sku=sku, name=None, quantity=1)


def test_rules_on_what_may_be_offered_come_first_then_what_not_to_offer() -> None:
    facts = facts_of(
        [
            touchpoint("product_viewed", "browser", sku="A", name=None),
            touchpoint("order_completed", "buyer", items=[line("A")]),
            touchpoint("product_returned", "returner", items=[line("B")]),
            touchpoint("product_viewed", "caller", sku="A", name=None),
            touchpoint("complaint_logged", "caller", case_id="c-1"),
            touchpoint("order_completed", "caller", items=[line("C")]),  # a complaint outranks
            touchpoint(
                "consent_updated",
                "withdrawer",
                purpose=ConsentPurpose.MARKETING,
                channel=ConsentChannel.EMAIL,
                granted=False,
            ),
            touchpoint("case_resolved", "resolved", case_id="c-0"),
            # Folded a day late (a backlog, a replay): no longer at once, still before the rest.
            touchpoint("complaint_logged", "late", AT - timedelta(days=1), case_id="c-2"),
        ]
    )
    assert facts.priorities(live_since=AT - timedelta(minutes=1)) == {
        "buyer": Priority.SOON,
        "returner": Priority.SOON,
        "caller": Priority.AT_ONCE,
        "withdrawer": Priority.AT_ONCE,
        "resolved": Priority.AT_ONCE,
        "late": Priority.SOON,
    }


def test_each_type_the_express_lane_takes_is_ranked_at_once_while_live() -> None:
    marketing = {"purpose": ConsentPurpose.MARKETING}
    examples = [
        touchpoint("complaint_logged", "s", case_id="c-1"),
        touchpoint("case_resolved", "s", case_id="c-1"),
        touchpoint("unsubscribed", "s", **marketing),
        touchpoint("consent_updated", "s", channel=ConsentChannel.SMS, granted=True, **marketing),
    ]
    assert {t.type for t in examples} == RULE_TYPES
    for example in examples:
        priorities = facts_of([example]).priorities(live_since=AT - timedelta(minutes=1))
        assert priorities == {"s": Priority.AT_ONCE}, example.type


def test_a_batch_tells_the_customers_it_only_sighted_from_those_it_told_something() -> None:
    facts = facts_of(
        [
            touchpoint("page_viewed", "visitor", url="https://shop.example.com/c/1"),
            touchpoint("email_opened", "visitor", message_id="m-1"),
            touchpoint("email_opened", "buyer", message_id="m-2"),
            touchpoint("order_completed", "buyer", items=[line("A")]),
            touchpoint("product_viewed", "browser", sku="A", name=None),
            touchpoint("cart_updated", "shopper", items=[line("B")]),
            touchpoint("complaint_logged", "caller", case_id="c-1"),
            Touchpoint(
                uuid.uuid4(),
                "offer_declined",
                "answerer",
                AT,
                None,
                SimpleNamespace(kind="product", channel="email", items=["A"]),
            ),
            # A country is something the ranking reads (the popularity of the customer's
            # country), even on a mere visit.
            Touchpoint(uuid.uuid4(), "page_viewed", "traveller", AT, "FR", SimpleNamespace()),
        ]
    )
    assert facts.sighted_only() == {"visitor"}
    assert facts.ranked_subjects() == {"buyer", "browser", "shopper", "caller", "answerer"}
