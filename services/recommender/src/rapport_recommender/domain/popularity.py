"""Which items a purchase makes more popular: pure logic over events."""

from __future__ import annotations

from collections import Counter

from rapport_events import properties as p
from rapport_events.envelope import TouchpointEvent


def purchased_units(event: TouchpointEvent) -> Counter[tuple[str, str | None]]:
    """Units bought per (sku, name) in a purchase event; empty for any other event."""
    units: Counter[tuple[str, str | None]] = Counter()
    props = event.properties
    if isinstance(props, p.OrderCompleted | p.StorePurchase):
        for item in props.items:
            units[(item.sku, item.name)] += item.quantity
    return units
