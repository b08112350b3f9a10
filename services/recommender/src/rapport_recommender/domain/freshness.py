"""How long a customer's ranking stays right without any new event about them.

Every fact about a customer reaches the re-ranker (the fold marks the customer stale), so a
stored ranking is wrong only once time alone changes it: an offer expires, a cart becomes
abandoned, a presented offer leaves the contact cap's rolling week, a recent purchase or a
second decline stops excluding its item. `valid_until` is the first of those moments (and at
most `max_age` away: scores decay and the market moves a little every day); after it, the
ranking is done again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from rapport_recommender.domain.customer import CustomerState, Policy
from rapport_recommender.domain.offers import Offer
from rapport_recommender.domain.scoring import ScoringParams

CONTACT_WINDOW = timedelta(days=7)  # as rules.contacts_this_week
DECLINES_TO_REST = 2  # as rules.excluded_items


def valid_until(
    state: CustomerState,
    offers: Sequence[Offer],
    now: datetime,
    params: ScoringParams,
    policy: Policy,
    max_age: timedelta,
) -> datetime:
    """The first moment after `now` at which ranking this state again could answer otherwise."""
    moments: list[datetime] = [now + max_age]
    moments += [offer.expires_at for offer in offers]
    if state.cart is not None and state.cart[0]:
        moments.append(state.cart[1] + policy.abandoned_after)
    for _, at in state.presented:  # counted from `at` (a clock ahead of ours) until a week on
        moments += [at, at + CONTACT_WINDOW]
    for item in state.items:
        if item.last_bought_at is not None:
            moments.append(item.last_bought_at + timedelta(days=params.recent_purchase_days))
        if item.declines >= DECLINES_TO_REST and item.last_declined_at is not None:
            moments.append(item.last_declined_at + timedelta(days=policy.decline_cooldown_days))
    return _first_after(now, moments)


def _first_after(now: datetime, moments: Iterable[datetime]) -> datetime:
    """The earliest moment later than now (moments already past changed nothing more)."""
    return min(at for at in moments if at > now)
