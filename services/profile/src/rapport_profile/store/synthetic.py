"""A synthetic profile store for read benchmarks, written with SQL (folding a million events
would take longer than the measurement): `customers` profiles with two identifiers each and
`per_customer` interactions per profile spread over two years.

Profile ids are derived from numbers (`synthetic_profile_id`), so that a load generator can
pick customers at random without reading them back. Shared by `make bench`'s read scenario
and `services/profile/bench/bench_reads.py`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable

import asyncpg

STATE = json.dumps(
    {
        "currency": "GBP",
        "recent_orders": ["2026-05-01T10:00:00+00:00", "2025-11-02T10:00:00+00:00"],
        "first_order_at": "2024-03-01T10:00:00+00:00",
        "channels": {"web": 6, "email": 2, "store": 1, "call_center": 1},
        "inbound_channels": {"web": 6, "store": 1, "call_center": 1},
        "traits": {"first_name": {"value": "Ada", "at": "2026-01-01T00:00:00+00:00"}},
        "preferences": {"size": {"value": "M", "at": "2026-01-01T00:00:00+00:00"}},
        "consent": {"marketing:email": {"value": True, "at": "2026-01-01T00:00:00+00:00"}},
        "cases": {},
        "offers": {"presented": 2},
        "context_country": {"value": "GB", "at": "2026-01-01T00:00:00+00:00"},
    }
)
_PROFILE_ID = "md5('profile-' || g)::uuid"  # what synthetic_profile_id computes, in SQL


def synthetic_profile_id(number: int) -> uuid.UUID:
    """The id of synthetic customer `number` (0 ≤ number < customers)."""
    return uuid.UUID(hashlib.md5(f"profile-{number}".encode()).hexdigest())  # noqa: S324


async def seed(
    dsn: str,
    customers: int,
    per_customer: int,
    *,
    chunk: int = 10_000,
    progress: Callable[[int], None] = lambda done: None,
) -> None:
    """Fill a freshly migrated profile database; `progress` hears the customers written."""
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, customers, chunk):
            low, high = start, min(start + chunk, customers) - 1
            await conn.execute(
                f"""
                INSERT INTO profiles (profile_id, created_at, first_seen, last_seen, orders,
                    revenue, refunds, last_order_at, lifecycle_stage, lifecycle_why,
                    value_tier, version, state)
                SELECT {_PROFILE_ID}, now() - interval '700 days', now() - interval '700 days',
                       now() - interval '1 day', 3, 120.50, 10, now() - interval '30 days',
                       'active', 'bought 30 days ago', 'standard', 1, $3::jsonb
                FROM generate_series($1::int, $2::int) g
                """,  # noqa: S608 - constants only
                low,
                high,
                STATE,
            )
            await conn.execute(
                f"""
                INSERT INTO identities (kind, value, profile_id, first_seen)
                SELECT kind, value, {_PROFILE_ID}, now() - interval '700 days'
                FROM generate_series($1::int, $2::int) g,
                     LATERAL (VALUES ('email', 'c' || g || '@example.com'),
                                     ('anonymous_id', 'anon-' || g)) AS i(kind, value)
                """,  # noqa: S608
                low,
                high,
            )
            await conn.execute(
                f"""
                INSERT INTO interactions (profile_id, occurred_at, event_id, channel, type,
                                          summary, details, amount)
                SELECT {_PROFILE_ID}, now() - random() * interval '700 days',
                       md5('event-' || g || '-' || k)::uuid,
                       (ARRAY['web', 'web', 'email', 'store', 'call_center'])[1 + k % 5],
                       (ARRAY['page_viewed', 'product_viewed', 'email_opened',
                              'store_purchase', 'call_started'])[1 + k % 5],
                       'Viewed product Linen shirt',
                       jsonb_build_object('url', '/p/' || k, 'locale', 'en-GB'),
                       CASE WHEN k % 5 = 3 THEN 19.00 END
                FROM generate_series($1::int, $2::int) g, generate_series(1, $3::int) k
                """,  # noqa: S608
                low,
                high,
                per_customer,
            )
            progress(high + 1)
        # As a store that has been running looks: statistics gathered, hint bits set and the
        # visibility map current, not a bulk load's first readers paying for that.
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
