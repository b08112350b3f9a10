from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rapport_profile.domain.identity_graph import group_customers, new_profile_id
from rapport_profile.domain.profile import ProfileState, apply_event, merge_profiles
from rapport_profile.domain.scores import Standing, lifecycle, rank_customers

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _order(make_event: Any, who: dict[str, str], total: float, at: datetime) -> Any:
    return make_event(
        "order_completed",
        who,
        {
            "order_id": uuid.uuid4().hex,
            "items": [{"sku": "A", "quantity": 1, "price": total}],
            "total": total,
            "currency": "GBP",
        },
        at=at,
    )


def test_orders_returns_complaints_and_consent_fold_order_independently(make_event: Any) -> None:
    who = {"email": "a@example.com"}
    events = [
        _order(make_event, who, 40, NOW - timedelta(days=3)),
        make_event(
            "store_purchase",
            {"loyalty_id": "L"},
            {
                "store_id": "s",
                "receipt_id": "r",
                "items": [{"sku": "B", "quantity": 1, "price": 60}],
                "total": 60,
                "currency": "GBP",
            },
            channel="store",
            at=NOW - timedelta(days=2),
        ),
        make_event(
            "product_returned",
            {"loyalty_id": "L"},
            {
                "receipt_id": "r",
                "items": [{"sku": "B", "quantity": 1, "price": 60}],
                "refund": 10,
                "currency": "GBP",
            },
            channel="store",
            at=NOW - timedelta(days=1),
        ),
        make_event("case_resolved", who, {"case_id": "c2"}, at=NOW - timedelta(hours=1)),
        make_event("complaint_logged", who, {"case_id": "c1"}, at=NOW - timedelta(hours=3)),
        make_event("complaint_logged", who, {"case_id": "c2"}, at=NOW - timedelta(hours=2)),
        make_event(
            "consent_updated",
            who,
            {"purpose": "marketing", "channel": "all", "granted": True},
            at=NOW - timedelta(hours=5),
        ),
        make_event("unsubscribed", who, {}, channel="email", at=NOW - timedelta(hours=4)),
    ]
    for ordering in (events, list(reversed(events))):
        state = ProfileState(uuid.uuid4(), NOW)
        for event in ordering:
            apply_event(state, event)
        assert state.orders == 2
        assert state.net_revenue == Decimal(90)
        assert state.average_order_value == Decimal("45.00")
        assert set(state.open_cases) == {"c1"}
        assert state.consent_for("marketing", "email") is False
        assert state.consent_for("marketing", "sms") is True
        assert state.first_seen == NOW - timedelta(days=3)
        assert state.preferred_channel == "web"


def test_merge_adds_counters_and_keeps_the_newest_statement(make_event: Any) -> None:
    old, new = NOW - timedelta(days=10), NOW - timedelta(days=1)
    survivor = ProfileState(uuid.uuid4(), NOW - timedelta(days=30))
    apply_event(survivor, _order(make_event, {"email": "a@x.com"}, 10, old))
    apply_event(
        survivor,
        make_event("identify", {"email": "a@x.com"}, {"traits": {"city": "Leeds"}}, at=old),
    )
    other = ProfileState(uuid.uuid4(), NOW - timedelta(days=5))
    apply_event(other, _order(make_event, {"anonymous_id": "x"}, 5, new))
    apply_event(
        other, make_event("identify", {"anonymous_id": "x"}, {"traits": {"city": "York"}}, at=new)
    )
    merged = merge_profiles(survivor, other)
    assert merged.profile_id == survivor.profile_id
    assert merged.orders == 2
    assert merged.revenue == Decimal(15)
    assert merged.traits["city"].value == "York"
    assert merged.first_seen == old
    assert merged.last_seen == new
    assert merged.channels == {"web": 4}


def test_lifecycle_rule() -> None:
    def stage(**kwargs: Any) -> str:
        args = {"orders": 1, "first_order_at": None, "previous_order_at": None, "now": NOW}
        return lifecycle(**(args | kwargs)).stage

    days = lambda n: NOW - timedelta(days=n)  # noqa: E731
    assert (
        lifecycle(
            orders=0, first_order_at=None, last_order_at=None, previous_order_at=None, now=NOW
        ).stage
        == "prospect"
    )
    assert stage(last_order_at=days(400), first_order_at=days(500)) == "lapsed"
    assert stage(last_order_at=days(200), first_order_at=days(500)) == "at_risk"
    assert (
        stage(last_order_at=days(10), previous_order_at=days(500), first_order_at=days(600))
        == "won_back"
    )
    assert stage(last_order_at=days(10), first_order_at=days(30)) == "new"
    assert stage(last_order_at=days(10), first_order_at=days(300)) == "active"


def test_top_tier_is_the_top_fifth_by_revenue_and_scores_are_quintiles() -> None:
    standings = [
        Standing(uuid.UUID(int=i), NOW - timedelta(days=i), i, Decimal(i * 10))
        for i in range(1, 11)
    ] + [Standing(uuid.UUID(int=99), None, 0, Decimal(0))]
    ranks = rank_customers(standings, NOW)
    top = {pid.int for pid, rank in ranks.items() if rank.value_tier == "top"}
    assert top == {9, 10}
    assert ranks[uuid.UUID(int=99)].value_tier == "none"
    assert ranks[uuid.UUID(int=1)].recency == 5  # bought yesterday
    assert ranks[uuid.UUID(int=10)].recency == 1
    assert ranks[uuid.UUID(int=10)].monetary == 5


def test_an_event_linking_two_known_profiles_merges_them_into_the_oldest() -> None:
    old, young = uuid.uuid4(), uuid.uuid4()
    customers = group_customers(
        [[("anonymous_id", "a")], [("email", "e"), ("anonymous_id", "a")], [("phone", "p")]],
        {("anonymous_id", "a"): young, ("email", "e"): old},
        {old: NOW - timedelta(days=2), young: NOW},
    )
    linked = next(c for c in customers if c.survivor is not None)
    assert linked.survivor == old
    assert linked.merged == [young]
    assert linked.events == [0, 1]
    stranger = next(c for c in customers if c.survivor is None)
    assert stranger.events == [2]
    assert new_profile_id({("phone", "p")}) == new_profile_id({("phone", "p")})
    assert new_profile_id({("phone", "p"), ("email", "e")}) == new_profile_id({("email", "e")})
