"""Next-best offers for one customer: which kinds arise, on which channel, in which order.

Each kind has a base score (how much it usually matters) that the bandit scales by what this
segment has accepted and declined. An open complaint trumps everything: the customer gets an
apology and a goodwill gesture, and no sales push on any channel until the case is resolved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from rapport_recommender.domain.bandit import PRIOR, Posterior, factor
from rapport_recommender.domain.facts import Touch
from rapport_recommender.domain.rules import pick_channel
from rapport_recommender.domain.scoring import ScoredItem


class Kind(StrEnum):
    SERVICE_RECOVERY = "service_recovery"
    ABANDONED_CART = "abandoned_cart"
    REWARD = "reward"
    WIN_BACK = "win_back"
    PRODUCT = "product"


BASE_SCORE = {
    Kind.SERVICE_RECOVERY: 1.0,
    Kind.ABANDONED_CART: 0.9,
    Kind.REWARD: 0.8,
    Kind.WIN_BACK: 0.7,
    Kind.PRODUCT: 0.6,
}
CHANNELS = {
    # An apology is best said by a person; a sales offer where the customer already shops.
    Kind.SERVICE_RECOVERY: ("call_center", "email", "web", "store"),
    Kind.ABANDONED_CART: ("email", "web"),
    Kind.REWARD: ("email", "web", "store", "call_center"),
    Kind.WIN_BACK: ("email", "sms", "post", "web"),
    Kind.PRODUCT: ("web", "email", "store", "call_center"),
}
LIFETIME = {
    Kind.SERVICE_RECOVERY: timedelta(days=14),
    Kind.ABANDONED_CART: timedelta(days=2),
    Kind.REWARD: timedelta(days=30),
    Kind.WIN_BACK: timedelta(days=14),
    Kind.PRODUCT: timedelta(days=7),
}
MAX_PRODUCTS = 10  # product offers ranked for a customer (scoring keeps only these)
SALES_KINDS = frozenset({Kind.ABANDONED_CART, Kind.REWARD, Kind.WIN_BACK, Kind.PRODUCT})
LAPSED_STAGES = frozenset({"lapsed", "at_risk", "at-risk", "at risk", "churned", "dormant"})
REWARD_STAGES = frozenset({"loyal", "champion", "vip"})


@dataclass(frozen=True, slots=True)
class Offer:
    offer_id: str
    kind: Kind
    items: tuple[str, ...]
    score: float
    reason: str
    channel: str
    expires_at: datetime

    @property
    def signature(self) -> str:
        """What makes two offers the same offer (for "the best offer changed")."""
        return f"{self.kind}|{','.join(self.items)}|{self.channel}"


@dataclass(frozen=True, slots=True)
class CustomerView:
    """Everything about one customer (all their identifiers together) that offers need."""

    now: datetime
    channels: frozenset[str]  # consented and under the contact cap
    value_tier: str | None = None
    lifecycle_stage: str | None = None
    open_complaints: Sequence[tuple[str, datetime]] = ()  # (case id, opened at)
    abandoned_cart: Sequence[str] = ()
    cart_at: datetime | None = None
    names: Mapping[str, str] = field(default_factory=dict)


def offer_id(kind: Kind, items: Sequence[str], channel: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}|{kind}|{','.join(items)}|{channel}".encode()).hexdigest()
    return f"{kind.value}-{digest[:12]}"


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b}"


def _name(view: CustomerView, sku: str) -> str:
    return view.names.get(sku) or sku


def product_reason(view: CustomerView, item: ScoredItem) -> str:
    because = item.because
    if because is None:
        return f"Popular right now: {_name(view, item.sku)}"
    what = _name(view, because.sku)
    if because.sku == item.sku:
        return f"Time to stock up again? You bought the {what} on {_day(because.at)}"
    verb = "bought" if because.touch is Touch.BOUGHT else "looked at"
    together = "bought" if because.touch is Touch.BOUGHT else "viewed"
    return f"Often {together} with the {what} you {verb} on {_day(because.at)}"


def rank_offers(
    view: CustomerView,
    products: Sequence[ScoredItem],
    posteriors: Mapping[Kind, Posterior],
    *,
    salt: str,
    max_products: int = MAX_PRODUCTS,
) -> list[Offer]:
    """All the offers this customer may get now, best first."""
    candidates: list[tuple[Kind, tuple[str, ...], float, str]] = []
    if view.open_complaints:
        case_id, opened = view.open_complaints[0]
        candidates.append(
            (
                Kind.SERVICE_RECOVERY,
                (),
                1.0,
                f"We are sorry about your open case {case_id} from {_day(opened)}: "
                "an apology and a goodwill gesture come first",
            )
        )
    else:
        candidates.extend(_sales_candidates(view, products, max_products))
    offers = []
    for kind, items, relevance, reason in candidates:
        channel = pick_channel(CHANNELS[kind], view.channels)
        if channel is None:
            continue
        score = BASE_SCORE[kind] * relevance * factor(posteriors.get(kind, PRIOR))
        offers.append(
            Offer(
                offer_id=offer_id(kind, items, channel, salt),
                kind=kind,
                items=items,
                score=round(score, 6),
                reason=reason,
                channel=channel,
                expires_at=view.now + LIFETIME[kind],
            )
        )
    offers.sort(key=lambda o: (-o.score, o.kind.value, o.items))
    return offers


def _sales_candidates(
    view: CustomerView, products: Sequence[ScoredItem], max_products: int
) -> list[tuple[Kind, tuple[str, ...], float, str]]:
    found: list[tuple[Kind, tuple[str, ...], float, str]] = []
    if view.abandoned_cart and view.cart_at is not None:
        first = _name(view, view.abandoned_cart[0])
        more = len(view.abandoned_cart) - 1
        what = first if more == 0 else f"{first} and {more} more"
        found.append(
            (
                Kind.ABANDONED_CART,
                tuple(view.abandoned_cart),
                1.0,
                f"You left the {what} in your cart on {_day(view.cart_at)}",
            )
        )
    if view.value_tier == "top" or (view.lifecycle_stage or "") in REWARD_STAGES:
        why = "top customers" if view.value_tier == "top" else "our most loyal customers"
        found.append((Kind.REWARD, (), 1.0, f"A thank-you reward for one of {why}"))
    top = products[:max_products]
    best = top[0].score if top else 0.0
    if (view.lifecycle_stage or "").lower() in LAPSED_STAGES:
        items = tuple(item.sku for item in top[:2])
        found.append((Kind.WIN_BACK, items, 1.0, "We miss you: something picked for you"))
    for item in top:
        found.append(
            (
                Kind.PRODUCT,
                (item.sku,),
                item.score / best if best else 0.0,
                product_reason(view, item),
            )
        )
    return found
