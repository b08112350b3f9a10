"""The Online Retail invoices as touchpoint events: one order_completed per invoice, one
product_returned per cancellation; lines without a customer cannot be attributed."""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rapport_events.envelope import TouchpointEvent, parse_event

UK = ZoneInfo("Europe/London")
COUNTRY_CODES = {
    "Australia": "AU",
    "Austria": "AT",
    "Bahrain": "BH",
    "Belgium": "BE",
    "Brazil": "BR",
    "Canada": "CA",
    "Channel Islands": "JE",
    "Cyprus": "CY",
    "Czech Republic": "CZ",
    "Denmark": "DK",
    "EIRE": "IE",
    "Finland": "FI",
    "France": "FR",
    "Germany": "DE",
    "Greece": "GR",
    "Hong Kong": "HK",
    "Iceland": "IS",
    "Israel": "IL",
    "Italy": "IT",
    "Japan": "JP",
    "Lebanon": "LB",
    "Lithuania": "LT",
    "Malta": "MT",
    "Netherlands": "NL",
    "Norway": "NO",
    "Poland": "PL",
    "Portugal": "PT",
    "RSA": "ZA",
    "Saudi Arabia": "SA",
    "Singapore": "SG",
    "Spain": "ES",
    "Sweden": "SE",
    "Switzerland": "CH",
    "USA": "US",
    "United Arab Emirates": "AE",
    "United Kingdom": "GB",
}
NOT_PRODUCTS = frozenset(
    {
        "POST",
        "M",
        "D",
        "BANK CHARGES",
        "AMAZONFEE",
        "DOT",
        "C2",
        "CRUK",
        "S",
        "B",
        "PADS",
        "ADJUST",
        "ADJUST2",
        "GIFT",
    }
)


def is_product(code: str) -> bool:
    upper = code.upper()
    return (
        upper not in NOT_PRODUCTS
        and not upper.startswith("GIFT_")
        and any(c.isdigit() for c in upper)
    )


def invoices(path: Path) -> Iterator[tuple[str, str, datetime, str, list[dict[str, object]]]]:
    """(invoice, customer, time, country, lines), in file order."""
    grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["CustomerID"].strip() and is_product(row["StockCode"].strip()):
                grouped[row["InvoiceNo"].strip()].append(row)
    for number, rows in grouped.items():
        if number.startswith("A"):
            continue
        lines: dict[str, dict[str, object]] = {}
        for row in rows:
            sku = row["StockCode"].strip()
            quantity = abs(int(row["Quantity"]))
            if quantity == 0:
                continue
            line = lines.setdefault(
                sku,
                {
                    "sku": sku,
                    "name": row["Description"].strip() or None,
                    "quantity": 0,
                    "price": max(0.0, float(row["UnitPrice"])),
                },
            )
            line["quantity"] = int(str(line["quantity"])) + quantity
        if not lines:
            continue
        first = rows[0]
        at = datetime.strptime(first["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UK)
        yield (
            number,
            first["CustomerID"].strip().split(".")[0],
            at,
            first["Country"].strip(),
            list(lines.values()),
        )


def to_event(
    number: str, customer: str, at: datetime, country: str, lines: list[dict[str, object]]
) -> TouchpointEvent:
    total = round(sum(float(str(line["price"])) * int(str(line["quantity"])) for line in lines), 2)
    code = COUNTRY_CODES.get(country)
    common = {
        "channel": "web",
        "occurred_at": at.isoformat(),
        "identity": {"customer_id": customer},
        "context": {"country": code} if code else {},
    }
    if number.startswith("C"):
        return parse_event(
            {
                **common,
                "type": "product_returned",
                "properties": {
                    "order_id": number,
                    "items": lines,
                    "refund": total,
                    "currency": "GBP",
                },
            }
        )
    return parse_event(
        {
            **common,
            "type": "order_completed",
            "properties": {"order_id": number, "items": lines, "total": total, "currency": "GBP"},
        }
    )
