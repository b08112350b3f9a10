"""Item-to-item collaborative filtering in the spirit of Amazon's (Linden, Smith, York 2003).

Two items are similar when many customers have both. Counting is per customer, not per unit,
so a wholesaler buying 500 of each counts once; the count is normalised by cosine on the
binary customer × item matrix, `together / sqrt(customers(a) · customers(b))`, so that a
best-seller, which co-occurs with everything, does not swamp the neighbours of every item.
A small shrinkage, `together / (together + shrink)`, discounts pairs seen only once or twice.

Both sides are updated incrementally: when a customer first gets an item, it pairs with the
items they already had. Only their `max_history` most recent items take part — a bound on the
work per event (and the one approximation here: a customer's very old items stop pairing).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

Pair = tuple[str, str]


def new_pairs(history: Sequence[str], new: Iterable[str], max_history: int) -> Counter[Pair]:
    """Pairs (both directions) a customer newly has: each new item with what they already
    had (most recent first in `history`) and with the other new items."""
    had = list(dict.fromkeys(history))[:max_history]
    known = set(had)
    fresh = [sku for sku in dict.fromkeys(new) if sku not in known]
    pairs: Counter[Pair] = Counter()
    for i, sku in enumerate(fresh):
        for other in had:
            pairs[(sku, other)] += 1
            pairs[(other, sku)] += 1
        for other in fresh[i + 1 :]:
            pairs[(sku, other)] += 1
            pairs[(other, sku)] += 1
    return pairs


def cosine(together: float, support_a: float, support_b: float, shrink: float = 0.0) -> float:
    """Shrunk cosine of two items from how many customers have both and each."""
    if together <= 0 or support_a <= 0 or support_b <= 0:
        return 0.0
    return together / math.sqrt(support_a * support_b) * together / (together + shrink)


def lift(together: float, support_a: float, support_b: float, customers: float) -> float:
    """How much more often the two go together than chance would have it (1.0 = chance)."""
    if together <= 0 or support_a <= 0 or support_b <= 0 or customers <= 0:
        return 0.0
    return together * customers / (support_a * support_b)
