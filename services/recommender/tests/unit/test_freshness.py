"""When a ranking stops being right with no new event: the first moment time alone changes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rapport_recommender.domain.customer import CustomerState, ItemState, Policy
from rapport_recommender.domain.freshness import valid_until
from rapport_recommender.domain.offers import Kind, Offer
from rapport_recommender.domain.scoring import ScoringParams

NOW = datetime(2026, 5, 3, 12, 0, tzinfo=UTC)
PARAMS = ScoringParams()
POLICY = Policy(abandoned_after=timedelta(minutes=30), decline_cooldown_days=90)
DAY = timedelta(days=1)


def offer(expires_in: timedelta) -> Offer:
    return Offer("o", Kind.PRODUCT, ("A",), 1.0, "why", "web", NOW + expires_in)


def until(state: CustomerState, *offers: Offer) -> datetime:
    return valid_until(state, offers, NOW, PARAMS, POLICY, max_age=DAY)


def test_with_nothing_timed_a_ranking_lasts_its_max_age() -> None:
    assert until(CustomerState()) == NOW + DAY


def test_the_first_offer_to_expire_ends_it() -> None:
    assert until(CustomerState(), offer(7 * DAY), offer(timedelta(hours=3))) == NOW + timedelta(
        hours=3
    )


def test_a_cart_not_yet_abandoned_ends_it_when_it_becomes_abandoned() -> None:
    left = NOW - timedelta(minutes=10)
    assert until(CustomerState(cart=(["A"], left))) == left + timedelta(minutes=30)
    # Abandoned already (or empty): nothing more to change.
    assert until(CustomerState(cart=(["A"], NOW - timedelta(hours=2)))) == NOW + DAY
    assert until(CustomerState(cart=([], left))) == NOW + DAY


def test_a_contact_ends_it_when_it_leaves_the_caps_week() -> None:
    shown = NOW - timedelta(days=6, hours=20)
    assert until(CustomerState(presented=[("web", shown)])) == shown + 7 * DAY
    # From a clock ahead of ours: it starts counting later, which changes the channels too.
    ahead = NOW + timedelta(seconds=5)
    assert until(CustomerState(presented=[("web", ahead)])) == ahead


def test_exclusions_end_it_when_they_lapse() -> None:
    bought = NOW - timedelta(days=PARAMS.recent_purchase_days) + timedelta(hours=1)
    assert until(CustomerState(items=[ItemState("A", last_bought_at=bought)])) == NOW + timedelta(
        hours=1
    )
    declined = NOW - timedelta(days=90) + timedelta(hours=2)
    twice = ItemState("B", declines=2, last_declined_at=declined)
    once = ItemState("C", declines=1, last_declined_at=declined)
    assert until(CustomerState(items=[twice])) == NOW + timedelta(hours=2)
    assert until(CustomerState(items=[once])) == NOW + DAY
