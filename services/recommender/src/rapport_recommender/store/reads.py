"""Reads of the shop-wide tables that offers draw on (catalogue, popularity, neighbours, bandit
arms), through `MarketReads`: one object per use, or one per API process that keeps what it
read for a few seconds.

Ranking a customer needs their own rows (always read fresh, see `queries`) and the market: the
neighbours of their 50 most recent items (5,000 rows for a wholesaler) and popularity, names
and item supports. Those are the same for every customer and change a little with each folded
batch, so the API may answer from a copy a few seconds old (`market_cache_seconds`); the fold
and the re-ranker use a fresh `MarketReads` per call and see their own writes.
"""

from __future__ import annotations

import heapq
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from rapport_recommender.domain.bandit import Posterior
from rapport_recommender.domain.scoring import Anchor, Neighbour, Similar, reorder_rates
from rapport_recommender.store.tables import arms, item_countries, item_pairs, items, popular_reach

KINDS = ("bought", "viewed")
POPULAR = 50  # candidates from each popularity list (overall, trending, per country)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shop:
    """The catalogue at one moment: names, supports, the most popular, the bandit's arms."""

    names: Mapping[str, str]
    support: Mapping[str, Mapping[str, int]]  # kind → sku → customers who bought/viewed it
    overall: Mapping[str, float]  # the `popular` most bought skus, by reach (domain.reach)
    trending: Mapping[str, float]  # the `popular` skus with the highest trend
    reorders: Mapping[str, float]  # sku → orders per buyer (buy-again favours staples)
    arms: Mapping[str, Mapping[str, Posterior]]  # segment → kind → posterior


_ITEMS = select(
    items.c.sku,
    items.c.name,
    items.c.buyers,
    items.c.viewers,
    items.c.orders,
    items.c.trend,
    popular_reach.c.reach,
).select_from(items.outerjoin(popular_reach, popular_reach.c.sku == items.c.sku))


async def read_shop(conn: AsyncConnection, popular: int) -> Shop:
    """One pass over the items table (a few thousand rows) and the arms."""
    names: dict[str, str] = {}
    buyers: dict[str, int] = {}
    viewers: dict[str, int] = {}
    trend: dict[str, float] = {}
    orders: dict[str, float] = {}
    reach: dict[str, float] = {}
    for row in await conn.execute(_ITEMS):
        if row.name is not None:
            names[row.sku] = row.name
        buyers[row.sku], viewers[row.sku], trend[row.sku] = row.buyers, row.viewers, row.trend
        orders[row.sku] = row.orders
        if row.reach is not None:
            reach[row.sku] = float(row.reach)
    found: dict[str, dict[str, Posterior]] = {}
    for arm in await conn.execute(select(arms.c.segment, arms.c.kind, arms.c.alpha, arms.c.beta)):
        found.setdefault(arm.segment, {})[arm.kind] = Posterior(arm.alpha, arm.beta)
    return Shop(
        names=names,
        support={"bought": buyers, "viewed": viewers},
        # In reach order once the re-ranker has worked it out (store.reach); until then (a new
        # shop) the most bought.
        overall=_top(reach, popular)
        if reach
        else _top({sku: float(n) for sku, n in buyers.items() if n > 0}, popular),
        trending=_top({sku: t for sku, t in trend.items() if t > 0}, popular),
        reorders=reorder_rates(orders, buyers),
        arms=found,
    )


def _top(values: Mapping[str, float], n: int) -> dict[str, float]:
    """The n highest, best first and by sku among equals (as ORDER BY value DESC, sku)."""
    return dict(heapq.nsmallest(n, values.items(), key=lambda kv: (-kv[1], kv[0])))


async def read_country_top(
    conn: AsyncConnection, countries: Iterable[str], limit: int
) -> dict[str, dict[str, float]]:
    """country → its `limit` skus with the most units (one query for all the countries)."""
    wanted = sorted(set(countries))
    found: dict[str, dict[str, float]] = {country: {} for country in wanted}
    if not wanted:
        return found
    country = select(
        func.unnest(bindparam("countries", value=wanted, type_=ARRAY(Text))).label("country")
    ).subquery("country")
    top = (
        select(item_countries.c.sku, item_countries.c.units)
        .where(item_countries.c.country == country.c.country)
        .order_by(item_countries.c.units.desc(), item_countries.c.sku)
        .limit(limit)
        .lateral("top")
    )
    rows = await conn.execute(
        select(country.c.country, top.c.sku, top.c.units)
        .select_from(country.join(top, literal_column("true")))
        .order_by(country.c.country, top.c.units.desc(), top.c.sku)
    )
    for row in rows:
        found[row.country][row.sku] = float(row.units)
    return found


async def read_neighbours(
    conn: AsyncConnection, wanted: Iterable[tuple[str, str]], keep: int
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(kind, sku) → its `keep` most frequent companions (sku, customers with both), most
    first: one query for both kinds, and only the pair counts (supports come from the shop)."""
    pairs = sorted(set(wanted))
    found: dict[tuple[str, str], list[tuple[str, int]]] = {pair: [] for pair in pairs}
    if not pairs:
        return found
    anchor = select(
        func.unnest(bindparam("kinds", value=[k for k, _ in pairs], type_=ARRAY(Text))).label(
            "kind"
        ),
        func.unnest(bindparam("skus", value=[s for _, s in pairs], type_=ARRAY(Text))).label("sku"),
    ).subquery("anchor")
    near = (
        select(item_pairs.c.b, item_pairs.c.together)
        .where(item_pairs.c.kind == anchor.c.kind, item_pairs.c.a == anchor.c.sku)
        .order_by(item_pairs.c.together.desc(), item_pairs.c.b)
        .limit(keep)
        .lateral("near")
    )
    # One row per anchor with its neighbours as two arrays (decoded by the driver in C):
    # 5,000-10,000 rows a customer through SQLAlchemy's row objects cost more than the query.
    order = (near.c.together.desc(), near.c.b)
    rows = await conn.execute(
        select(
            anchor.c.kind,
            anchor.c.sku,
            func.array_agg(aggregate_order_by(near.c.b, *order)).label("skus"),
            func.array_agg(aggregate_order_by(near.c.together, *order)).label("together"),
        )
        .select_from(anchor.join(near, literal_column("true")))
        .group_by(anchor.c.kind, anchor.c.sku)
    )
    for row in rows:
        found[(row.kind, row.sku)] = list(zip(row.skus, row.together, strict=True))
    return found


class _Expiring(Generic[T]):
    """Values kept until `seconds` after they were read (forever when seconds is infinite)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds, self.clock = seconds, clock
        self.held: dict[object, tuple[float, T]] = {}
        self._sweep_at = clock() + seconds

    def get(self, key: object) -> T | None:
        found = self.held.get(key)
        if found is None or found[0] < self.clock():
            return None
        return found[1]

    def put(self, key: object, value: T) -> None:
        now = self.clock()
        if now >= self._sweep_at:
            # Expired values are forgotten once a lifetime, so that what is held is what was
            # read in the last two. Kept until there were 100,000 of them (as before), the
            # neighbours of every item ever ranked stayed: for a catalogue of 100,000 items,
            # gigabytes (an anchor and its similarities are ~10-25 KB).
            self.held = {k: v for k, v in self.held.items() if v[0] >= now}
            self._sweep_at = now + self.seconds
        self.held[key] = (now + self.seconds, value)


class MarketReads:
    """The market's reads for ranking customers; what was read is kept `seconds` (infinite:
    for the life of this object, the default for one call)."""

    def __init__(
        self,
        seconds: float = math.inf,
        popular: int = POPULAR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.popular = popular
        self._shop: _Expiring[Shop] = _Expiring(seconds, clock)
        self._countries: _Expiring[dict[str, float]] = _Expiring(seconds, clock)
        # (None,) for an item without neighbours: known, nothing to read again
        self._similar: _Expiring[tuple[Similar | None]] = _Expiring(seconds, clock)

    async def shop(self, conn: AsyncConnection) -> Shop:
        found = self._shop.get("shop")
        if found is None:
            found = await read_shop(conn, self.popular)
            self._shop.put("shop", found)
        return found

    async def country_top(
        self, conn: AsyncConnection, countries: Iterable[str]
    ) -> dict[str, dict[str, float]]:
        wanted = set(countries)
        found = {c: top for c in wanted if (top := self._countries.get(c)) is not None}
        missing = wanted - set(found)
        if missing:
            for country, top in (await read_country_top(conn, missing, self.popular)).items():
                self._countries.put(country, top)
                found[country] = top
        return found

    async def similar(
        self, conn: AsyncConnection, wanted: Mapping[str, Iterable[str]], shrink: float, keep: int
    ) -> dict[str, dict[str, Similar]]:
        """kind → sku → its `keep` nearest neighbours with their similarity, for the skus that
        have any. What is kept is only that (`Anchor.similar`), with each sku's name shared:
        the anchors themselves were three times the size (~25 KB each, with a fresh string
        per neighbour), and an API process holds thousands of them."""
        shop = await self.shop(conn)
        found: dict[str, dict[str, Similar]] = {kind: {} for kind in KINDS}
        missing = []
        for kind, skus in wanted.items():
            for sku in skus:
                held = self._similar.get((kind, sku, shrink, keep))
                if held is None:
                    missing.append((kind, sku))
                elif held[0] is not None:
                    found[kind][sku] = held[0]
        if missing:
            read = await read_neighbours(conn, missing, keep)
            for (kind, sku), near in read.items():
                anchor = _anchor(shop, kind, sku, near)
                similar = anchor.similar(shrink, keep) if anchor is not None else None
                self._similar.put((kind, sku, shrink, keep), (similar,))
                if similar is not None:
                    found[kind][sku] = similar
        return found


def _anchor(shop: Shop, kind: str, sku: str, near: list[tuple[str, int]]) -> Anchor | None:
    """The anchor as the store knows it: neighbours (and the anchor) that are in the catalogue."""
    support = shop.support[kind]
    own = support.get(sku)
    neighbours = [
        Neighbour(sys.intern(b), together, support[b]) for b, together in near if b in support
    ]
    if own is None or not neighbours:
        return None
    return Anchor(own, neighbours)
