"""Item-to-item collaborative filtering in the spirit of Amazon's (Linden, Smith, York 2003).

Two items are similar when many customers have both. Counting is per customer, not per unit,
so a wholesaler buying 500 of each counts once; the count is normalised by cosine on the
binary customer × item matrix, `together / sqrt(customers(a) · customers(b))`, so that a
best-seller, which co-occurs with everything, does not swamp the neighbours of every item.
A small shrinkage, `together / (together + shrink)`, discounts pairs seen only once or twice.

Both sides are updated incrementally: when a customer first gets an item, it pairs with the
items they already had. Only their `pair_window` most recent items take part (and the other
lines of the same order) — a bound on the work per event, and the one approximation here: a
customer's older items stop pairing with what they get next.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

Pair = tuple[str, str]


def new_pairs(
    history: Sequence[str], baskets: Iterable[Sequence[str]], window: int
) -> Counter[Pair]:
    """Pairs (both directions) a customer newly has. `history` is what they had before, most
    recent first; `baskets` what they got since, oldest first (the lines of one order are one
    basket). Each item they get for the first time pairs with the other new items of its
    basket and with the `window` most recent distinct items before that basket — not with
    their whole past, which would cost a wholesaler hundreds of rows per new line."""
    known = set(history)
    recent = list(dict.fromkeys(history))[:window]
    pairs: Counter[Pair] = Counter()
    for basket in baskets:
        lines = list(dict.fromkeys(basket))
        fresh = [sku for sku in lines if sku not in known]
        for i, sku in enumerate(fresh):
            for other in recent:
                pairs[(sku, other)] += 1
                pairs[(other, sku)] += 1
            for other in fresh[i + 1 :]:
                pairs[(sku, other)] += 1
                pairs[(other, sku)] += 1
        known.update(fresh)
        got = set(lines)
        recent = (lines + [sku for sku in recent if sku not in got])[:window]
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
