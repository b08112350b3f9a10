"""Deterministic, realistic-looking touchpoint events from a seed.

Customers follow a Zipf law (most have a handful of events, a few have very many), products are
real ones sampled from the Online Retail data set in /work/shared/data (read at run time, never
copied into the repository), and the mix of event types leans on browsing as real traffic does.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

RETAIL_CSV = Path(
    "/work/shared/data/online_retail.csv.gz"
    if Path("/work/shared/data/online_retail.csv.gz").exists()
    else Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail.csv.gz"
)
NOT_PRODUCTS = {"POST", "M", "D", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "C2", "PADS", "S"}

# (type, channel, weight): browsing dominates, orders and service contacts are rarer.
EVENT_MIX = (
    ("page_viewed", "web", 30),
    ("product_viewed", "web", 30),
    ("cart_updated", "web", 10),
    ("order_completed", "web", 6),
    ("email_opened", "email", 8),
    ("email_clicked", "email", 4),
    ("store_purchase", "store", 4),
    ("call_started", "call_center", 3),
    ("complaint_logged", "call_center", 1),
    ("logged_in", "web", 4),
)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: float


@cache
def catalog(limit: int = 2000) -> tuple[Product, ...]:
    """Up to `limit` distinct real products (sku, description, unit price)."""
    products: dict[str, Product] = {}
    if RETAIL_CSV.exists():
        with gzip.open(RETAIL_CSV, "rt", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                sku = row["StockCode"].strip()
                if sku in products or sku.upper() in NOT_PRODUCTS or not row["Description"]:
                    continue
                price = float(row["UnitPrice"] or 0)
                if price <= 0:
                    continue
                products[sku] = Product(sku, row["Description"].strip().capitalize(), price)
                if len(products) >= limit:
                    break
    if not products:  # the data set is missing: still realistic enough shapes
        products = {
            f"SKU-{i}": Product(f"SKU-{i}", f"Product {i}", 1.0 + i % 50) for i in range(200)
        }
    return tuple(products.values())


class EventFactory:
    """Makes events for `customers` customers from `seed`; the same seed gives the same events."""

    def __init__(self, seed: int, customers: int, *, zipf_s: float = 1.1) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible load, not security
        self.customers = customers
        self.products = catalog()
        self.namespace = uuid.UUID(int=self.rng.getrandbits(128))
        weights = [1 / (rank**zipf_s) for rank in range(1, customers + 1)]
        total = sum(weights)
        self._cumulative: list[float] = []
        running = 0.0
        for weight in weights:
            running += weight / total
            self._cumulative.append(running)
        self._types = [(kind, channel) for kind, channel, _ in EVENT_MIX]
        self._type_weights = [weight for _, _, weight in EVENT_MIX]
        self.base_time = datetime.now(UTC) - timedelta(days=30)
        self._counter = 0

    def customer_id(self, index: int) -> str:
        return f"cust-{self.namespace.hex[:6]}-{index:07d}"

    def zipf_customer(self) -> int:
        """A customer index, rank 0 the busiest."""
        return min(bisect.bisect_left(self._cumulative, self.rng.random()), self.customers - 1)

    def event(self, customer: int | None = None, *, now: bool = False) -> dict[str, Any]:
        """One valid event for `customer` (Zipf-drawn if None)."""
        index = self.zipf_customer() if customer is None else customer
        kind, channel = self.rng.choices(self._types, self._type_weights)[0]
        self._counter += 1
        when = (
            datetime.now(UTC)
            if now
            else self.base_time + timedelta(seconds=self._counter * 0.5 + self.rng.random())
        )
        return {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "type": kind,
            "channel": channel,
            "occurred_at": when.isoformat(),
            "identity": {"customer_id": self.customer_id(index)},
            "properties": self._properties(kind),
            "context": {"source": "bench"},
        }

    def _item(self) -> dict[str, Any]:
        product = self.rng.choice(self.products)
        return {
            "sku": product.sku,
            "name": product.name,
            "quantity": self.rng.randint(1, 6),
            "price": product.price,
        }

    def _properties(self, kind: str) -> dict[str, Any]:  # noqa: PLR0911 - one case per type
        rng = self.rng
        if kind == "page_viewed":
            return {"url": f"https://shop.example.com/c/{rng.randint(1, 40)}", "title": "Category"}
        if kind == "product_viewed":
            product = rng.choice(self.products)
            return {
                "sku": product.sku,
                "name": product.name,
                "price": product.price,
                "currency": "GBP",
            }
        if kind == "cart_updated":
            items = [self._item() for _ in range(rng.randint(0, 3))]
            return {"cart_id": f"cart-{rng.randint(1, 10**9)}", "items": items, "currency": "GBP"}
        if kind in ("order_completed", "store_purchase"):
            items = [self._item() for _ in range(rng.randint(1, 4))]
            total = round(sum(item["price"] * item["quantity"] for item in items), 2)
            body: dict[str, Any] = {"items": items, "total": total, "currency": "GBP"}
            if kind == "order_completed":
                body["order_id"] = f"ord-{rng.randint(1, 10**9)}"
            else:
                body |= {
                    "store_id": f"store-{rng.randint(1, 40)}",
                    "receipt_id": f"r-{rng.randint(1, 10**9)}",
                }
            return body
        if kind == "email_opened":
            return {"message_id": f"msg-{rng.randint(1, 10**9)}", "campaign_id": "spring"}
        if kind == "email_clicked":
            return {
                "message_id": f"msg-{rng.randint(1, 10**9)}",
                "url": "https://shop.example.com/sale",
            }
        if kind == "call_started":
            return {"call_id": f"call-{rng.randint(1, 10**9)}", "reason": "delivery"}
        if kind == "complaint_logged":
            return {"case_id": f"case-{rng.randint(1, 10**9)}", "severity": "medium"}
        return {"method": "password"}
