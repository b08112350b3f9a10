"""Differentiate by value: lifecycle stage, RFM scores and the value tier.

Lifecycle stage (the rule, first match wins; days counted back from now):
- `prospect`  — no purchase yet;
- `lapsed`    — last purchase more than 365 days ago;
- `at_risk`   — last purchase 181–365 days ago;
- `won_back`  — bought again within the last 180 days after a gap of more than 365 days;
- `new`       — first purchase within the last 90 days;
- `active`    — everyone else who bought within the last 180 days.

RFM scores (1–5, 5 best) are quintiles over every customer who bought in the rolling window:
recency by days since the last purchase, frequency by purchases, monetary by net revenue in
the window. The value tier is `top` for the top 20% of those customers by net revenue in the
window (the Pareto customers), `standard` for the other buyers and `none` for the rest. Scores
and tiers are relative to the whole base, so the service recomputes them on a schedule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

NEW_DAYS = 90
ACTIVE_DAYS = 180
LAPSED_DAYS = 365
WON_BACK_GAP_DAYS = 365
WINDOW_DAYS = 365
TOP_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Lifecycle:
    stage: str
    why: str


def lifecycle(
    *,
    orders: int,
    first_order_at: datetime | None,
    last_order_at: datetime | None,
    previous_order_at: datetime | None,
    now: datetime,
) -> Lifecycle:
    if not orders or last_order_at is None:
        return Lifecycle("prospect", "no purchase yet")
    since = (now - last_order_at).days
    if since > LAPSED_DAYS:
        return Lifecycle("lapsed", f"last purchase {since} days ago (over {LAPSED_DAYS})")
    if since > ACTIVE_DAYS:
        return Lifecycle("at_risk", f"last purchase {since} days ago (over {ACTIVE_DAYS})")
    if previous_order_at is not None:
        gap = (last_order_at - previous_order_at).days
        if gap > WON_BACK_GAP_DAYS:
            return Lifecycle("won_back", f"bought again {since} days ago after {gap} days away")
    if first_order_at is not None and (now - first_order_at).days <= NEW_DAYS:
        return Lifecycle("new", f"first purchase {(now - first_order_at).days} days ago")
    return Lifecycle("active", f"{orders} purchases, the last {since} days ago")


@dataclass(frozen=True, slots=True)
class Standing:
    """One customer's figures for ranking against the base."""

    profile_id: uuid.UUID
    last_order_at: datetime | None
    orders_in_window: int
    revenue_in_window: Decimal


@dataclass(frozen=True, slots=True)
class Rank:
    value_tier: str
    recency: int | None
    frequency: int | None
    monetary: int | None


def _quintiles(values: dict[uuid.UUID, float]) -> dict[uuid.UUID, int]:
    """1–5 by position in ascending order; equal values get the same score."""
    ordered = sorted(set(values.values()))
    if not ordered:
        return {}
    position = {value: index for index, value in enumerate(ordered)}
    top = max(len(ordered) - 1, 1)
    return {key: 1 + round(4 * position[value] / top) for key, value in values.items()}


def rank_customers(standings: list[Standing], now: datetime) -> dict[uuid.UUID, Rank]:
    """Tier and RFM scores for every customer, relative to the whole base."""
    window_start = now - timedelta(days=WINDOW_DAYS)
    buyers = [
        s
        for s in standings
        if s.last_order_at is not None and s.last_order_at >= window_start and s.orders_in_window
    ]
    by_revenue = sorted(buyers, key=lambda s: (-s.revenue_in_window, str(s.profile_id)))
    top_count = max(1, round(len(buyers) * TOP_SHARE)) if buyers else 0
    top = {s.profile_id for s in by_revenue[:top_count] if s.revenue_in_window > 0}
    recency = _quintiles(
        {s.profile_id: -(now - s.last_order_at).total_seconds() for s in buyers if s.last_order_at}
    )
    frequency = _quintiles({s.profile_id: float(s.orders_in_window) for s in buyers})
    monetary = _quintiles({s.profile_id: float(s.revenue_in_window) for s in buyers})
    ranks: dict[uuid.UUID, Rank] = {}
    for s in standings:
        if s.profile_id in recency:
            tier = "top" if s.profile_id in top else "standard"
            ranks[s.profile_id] = Rank(
                tier, recency[s.profile_id], frequency[s.profile_id], monetary[s.profile_id]
            )
        else:
            ranks[s.profile_id] = Rank("none", None, None, None)
    return ranks
