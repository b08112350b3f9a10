"""Popular items ordered by reach: a short list of them is a portfolio, not a ranking.

A customer with no history (a third of those who order in the Online Retail data) is offered
the popular items only, and one of ten has to be something they buy. Ten best-sellers bought by
the same regulars say the same thing ten times; ordered by reach, each next item is the one
bought by the most customers whom the items before it do not reach (Nemhauser's greedy max
coverage). On the validation splits this lifted the newcomers' HR@10 by 1.2 and 4 points over
the most-bought order (see EVAL.md).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping


def by_reach(buyers: Mapping[str, Collection[Hashable]]) -> dict[str, float]:
    """sku → how many of its buyers no item before it reaches, in that order: each next item
    reaches the most customers not reached yet (among equals: the most buyers, then by sku).

    The items that reach nobody new follow, the most bought first, each worth half the one
    before it: below every item that reaches someone, yet still worth offering (a small shop
    whose regulars buy everything would otherwise offer a newcomer one item)."""
    fresh = {sku: set(customers) for sku, customers in buyers.items()}
    reached: dict[str, float] = {}
    while fresh:
        best = min(fresh, key=lambda sku: (-len(fresh[sku]), -len(buyers[sku]), sku))
        if not fresh[best]:
            break
        newly = fresh.pop(best)
        reached[best] = float(len(newly))
        for others in fresh.values():
            others.difference_update(newly)
    value = min(reached.values(), default=1.0)
    for sku in sorted(fresh, key=lambda sku: (-len(buyers[sku]), sku)):
        value /= 2
        reached[sku] = value
    return reached
