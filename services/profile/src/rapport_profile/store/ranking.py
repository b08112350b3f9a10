"""Reads and writes of the scheduled refresh of tiers, RFM scores and lifecycle stages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from rapport_profile.domain.scores import Standing


@dataclass(frozen=True, slots=True)
class Current:
    orders: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    previous_order_at: datetime | None
    version: int
    figures: tuple[Any, ...]  # (tier, recency, frequency, monetary, lifecycle stage)


async def standings(
    db: asyncpg.Connection, window_start: datetime
) -> tuple[list[Standing], dict[uuid.UUID, Current]]:
    rows = await db.fetch(
        """
        WITH window_money AS (
            SELECT profile_id, count(*) FILTER (WHERE amount > 0) AS orders,
                   sum(amount) AS revenue
            FROM interactions
            WHERE amount IS NOT NULL AND occurred_at >= $1
            GROUP BY profile_id
        )
        SELECT p.profile_id, p.orders, p.last_order_at, p.version, p.value_tier,
               p.recency_score, p.frequency_score, p.monetary_score, p.lifecycle_stage,
               (p.state->>'first_order_at')::timestamptz AS first_order_at,
               (p.state->'recent_orders'->>1)::timestamptz AS previous_order_at,
               coalesce(w.orders, 0) AS window_orders, coalesce(w.revenue, 0) AS window_revenue
        FROM profiles p LEFT JOIN window_money w USING (profile_id)
        WHERE p.merged_into IS NULL
        """,
        window_start,
    )
    found = [
        Standing(
            row["profile_id"],
            row["last_order_at"],
            row["window_orders"],
            Decimal(row["window_revenue"]),
        )
        for row in rows
    ]
    current = {
        row["profile_id"]: Current(
            orders=row["orders"],
            first_order_at=row["first_order_at"],
            last_order_at=row["last_order_at"],
            previous_order_at=row["previous_order_at"],
            version=row["version"],
            figures=(
                row["value_tier"],
                row["recency_score"],
                row["frequency_score"],
                row["monetary_score"],
                row["lifecycle_stage"],
            ),
        )
        for row in rows
    }
    return found, current


async def save_ranks(
    db: asyncpg.Connection, updates: Sequence[tuple[Any, ...]], now: datetime
) -> list[asyncpg.Record]:
    """Write new figures where the profile has not been folded since it was read (its version
    is unchanged; otherwise the next refresh catches it). Returns the updated rows."""
    if not updates:
        return []
    columns = [list(column) for column in zip(*updates, strict=True)]
    return list(
        await db.fetch(
            """
            UPDATE profiles p SET value_tier = v.tier, recency_score = v.r,
                   frequency_score = v.f, monetary_score = v.m, lifecycle_stage = v.stage,
                   lifecycle_why = v.why, scores_at = $9, version = p.version + 1
            FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::smallint[], $5::smallint[],
                        $6::smallint[], $7::text[], $8::text[])
                 AS v(id, version, tier, r, f, m, stage, why)
            WHERE p.profile_id = v.id AND p.version = v.version
            RETURNING p.*
            """,
            *columns,
            now,
        )
    )
