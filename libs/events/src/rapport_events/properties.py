"""The `properties` of every event type, validated per type.

Names follow the e-commerce tracking conventions web teams know (snake_case; money as a decimal
with an ISO 4217 currency). Unknown extra properties are kept but not interpreted.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)


def _currency(raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise ValueError("must be a three-letter ISO 4217 currency code, e.g. GBP")
    return code


Currency = Annotated[str, AfterValidator(_currency), Field(examples=["GBP"])]
# Money is exact in memory (Decimal) and a plain JSON number on the wire, as senders post it;
# 14 significant digits round-trip through a float exactly.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=4, examples=[42.5]),
    PlainSerializer(float, return_type=float, when_used="json"),
]
Text = Annotated[str, Field(max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class Properties(BaseModel):
    """Base of every properties model: extra fields are kept, never interpreted."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)


class Item(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    sku: ShortText = Field(examples=["85123A"])
    name: Text | None = Field(None, examples=["White hanging heart T-light holder"])
    category: Text | None = Field(None, examples=["home"])
    quantity: int = Field(gt=0, le=1_000_000, examples=[2])
    price: Money = Field(description="unit price")


# --- web ---------------------------------------------------------------------------------------


class PageViewed(Properties):
    url: Text = Field(examples=["https://shop.example.com/garden"])
    title: Text | None = None
    referrer: Text | None = None


class ProductViewed(Properties):
    sku: ShortText = Field(examples=["85123A"])
    name: Text | None = None
    category: Text | None = None
    price: Money | None = None
    currency: Currency | None = None


class CartUpdated(Properties):
    cart_id: ShortText = Field(examples=["cart-9912"])
    items: list[Item] = Field(max_length=500, description="the whole cart; may be empty")
    value: Money | None = None
    currency: Currency | None = None


class OrderCompleted(Properties):
    order_id: ShortText = Field(examples=["ord-1001"])
    items: list[Item] = Field(min_length=1, max_length=500)
    total: Money
    currency: Currency
    discount: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None


class SignedUp(Properties):
    method: ShortText | None = Field(None, examples=["email"])


class LoggedIn(Properties):
    method: ShortText | None = Field(None, examples=["password"])


# --- call center -------------------------------------------------------------------------------


class CallStarted(Properties):
    call_id: ShortText = Field(examples=["call-77"])
    reason: Text | None = Field(None, examples=["late delivery"])


class CallEnded(Properties):
    call_id: ShortText
    duration_s: int | None = Field(None, ge=0, le=86_400)
    outcome: Text | None = Field(None, examples=["resolved"])
    note: Text | None = None


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ComplaintLogged(Properties):
    case_id: ShortText = Field(examples=["case-501"])
    category: Text | None = Field(None, examples=["late delivery"])
    severity: Severity | None = None
    description: Text | None = None


class CaseResolved(Properties):
    case_id: ShortText
    resolution: Text | None = None
    satisfaction: int | None = Field(None, ge=1, le=5)


# --- email -------------------------------------------------------------------------------------


class EmailSent(Properties):
    message_id: ShortText = Field(examples=["msg-3310"])
    campaign_id: ShortText | None = None
    subject: Text | None = None


class EmailOpened(EmailSent):
    pass


class EmailClicked(Properties):
    message_id: ShortText
    url: Text
    campaign_id: ShortText | None = None


class BounceType(StrEnum):
    HARD = "hard"
    SOFT = "soft"


class EmailBounced(Properties):
    message_id: ShortText
    bounce_type: BounceType


class ConsentPurpose(StrEnum):
    MARKETING = "marketing"
    PERSONALIZATION = "personalization"
    ANALYTICS = "analytics"


class Unsubscribed(Properties):
    purpose: ConsentPurpose = ConsentPurpose.MARKETING
    message_id: ShortText | None = None


# --- store -------------------------------------------------------------------------------------


class StoreVisited(Properties):
    store_id: ShortText = Field(examples=["leeds-01"])


class StorePurchase(Properties):
    store_id: ShortText
    receipt_id: ShortText = Field(examples=["rcpt-88120"])
    items: list[Item] = Field(min_length=1, max_length=500)
    total: Money
    currency: Currency


class ProductReturned(Properties):
    order_id: ShortText | None = None
    receipt_id: ShortText | None = None
    items: list[Item] = Field(min_length=1, max_length=500)
    refund: Money
    currency: Currency
    reason: Text | None = None

    @model_validator(mode="after")
    def _names_the_sale(self) -> ProductReturned:
        if self.order_id is None and self.receipt_id is None:
            raise ValueError("order_id or receipt_id is required")
        return self


# --- any channel -------------------------------------------------------------------------------


class Traits(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    first_name: ShortText | None = Field(None, examples=["Ada"])
    last_name: ShortText | None = Field(None, examples=["Lovelace"])
    city: ShortText | None = None
    country: ShortText | None = None
    language: ShortText | None = None
    birthday: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["1990-12-10"])


class Identify(Properties):
    traits: Traits = Field(default_factory=Traits)


class ConsentChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    WEB = "web"
    POST = "post"
    ALL = "all"


class ConsentUpdated(Properties):
    purpose: ConsentPurpose
    channel: ConsentChannel
    granted: bool


class PreferenceStated(Properties):
    key: ShortText = Field(examples=["favourite_category"])
    value: Annotated[str, Field(min_length=1, max_length=500, examples=["garden"])]


class FeedbackScale(StrEnum):
    NPS = "nps"
    CSAT = "csat"


class FeedbackGiven(Properties):
    score: int
    scale: FeedbackScale
    topic: Text | None = None
    comment: Text | None = None

    @model_validator(mode="after")
    def _score_on_scale(self) -> FeedbackGiven:
        low, high = (0, 10) if self.scale is FeedbackScale.NPS else (1, 5)
        if not low <= self.score <= high:
            raise ValueError(f"score must be {low}–{high} on the {self.scale.value} scale")
        return self


OfferChannel = Literal["email", "sms", "phone", "web", "post", "store", "call_center"]


class OfferEvent(Properties):
    offer_id: ShortText = Field(examples=["off-5d1a"])
    kind: ShortText = Field(examples=["product"])
    items: list[ShortText] = Field(default_factory=list, max_length=100, description="skus")
    channel: OfferChannel


class OfferPresented(OfferEvent):
    pass


class OfferAccepted(OfferEvent):
    pass


class OfferDeclined(OfferEvent):
    pass
