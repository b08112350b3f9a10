"""The Kafka entry point of the recommender: touchpoints and profile changes, folded together
in one transaction per batch; offsets commit after it; the re-ranker is woken after it (it
ranks the customers the batch marked and publishes the best offers that changed)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from rapport_events.changes import ProfileChange, decode_change
from rapport_events.codec import decode_event
from rapport_events.db import Database, is_transient
from rapport_events.envelope import EVENT_TYPES, TouchpointEvent, now_utc
from rapport_events.identity import identifier_hash, normalize_email, normalize_phone
from rapport_events.kafka import BrokerUnavailable, ConsumerLoop, Publisher
from rapport_events.kafka.consumer import Delivered
from rapport_recommender.domain.facts import READS_PROPERTIES, RULE_TYPES, Touchpoint
from rapport_recommender.handlers import Folded, fold, forget_old_contacts
from rapport_recommender.rerank import fold_and_rank_at_once
from rapport_recommender.settings import RecommenderSettings
from rapport_recommender.store.reads import MarketReads

Message = Touchpoint | TouchpointEvent | ProfileChange
FORGET_CONTACTS_EVERY_SECONDS = 600.0
_IDENTITY_KINDS = ("customer_id", "loyalty_id", "email", "phone", "anonymous_id")  # strongest first
_LINES_TYPES = frozenset({"order_completed", "store_purchase", "cart_updated"})
# Types whose properties the fold never reads: who, when and where is all it takes of them.
_BARE_TYPES = frozenset(EVENT_TYPES) - READS_PROPERTIES
_LEAN_TYPES = _LINES_TYPES | {"product_viewed"} | _BARE_TYPES
_COUNTRY = re.compile(r"[A-Za-z]{2}")


class _NotLean(ValueError):
    """Not the plain shape the lean decoder reads: the full validation decides."""


@dataclass(frozen=True, slots=True)
class LeanItem:
    sku: str
    name: str | None
    quantity: int


@dataclass(frozen=True, slots=True)
class LeanLines:
    items: tuple[LeanItem, ...]


@dataclass(frozen=True, slots=True)
class LeanView:
    sku: str
    name: str | None


def lean_touchpoint(value: bytes) -> Touchpoint | TouchpointEvent:
    """The fold's view of a touchpoint from its Kafka value. Orders, store purchases, carts,
    product views and every type whose properties the fold does not read (page views, emails,
    calls, log-ins: with the others, nearly all of the stream) are read straight from the
    JSON, checking the fields the fold uses against the contract's rules (identity normalised
    as validation does; the subject, times, country and lines); validating the whole envelope
    with pydantic cost five times the rest of the fold per event. Anything else, or anything
    not in that plain shape, goes through the full validation (which rejects a bad event:
    dead letter)."""
    try:
        data = orjson.loads(value)
        if not isinstance(data, dict) or data.get("type") not in _LEAN_TYPES:
            raise _NotLean
        return _lean(data)
    except (_NotLean, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return decode_event(value)


def _lean(data: dict[str, Any]) -> Touchpoint:
    kind = data["type"]
    at = _aware(data.get("timestamp") or data["occurred_at"])
    props = data["properties"]
    country = (data.get("context") or {}).get("country")
    if country is not None:
        country = country.strip()
        if not _COUNTRY.fullmatch(country):
            raise _NotLean
        country = country.upper()
    if not isinstance(props, dict):
        raise _NotLean
    properties: LeanLines | LeanView | None = None
    if kind == "product_viewed":
        properties = LeanView(_text(props["sku"]), _name(props.get("name")))
    elif kind in _LINES_TYPES:
        lines = props["items"]
        fewest = 0 if kind == "cart_updated" else 1  # a cart may be emptied
        if not isinstance(lines, list) or not fewest <= len(lines) <= 500:
            raise _NotLean
        properties = LeanLines(tuple(_item(line) for line in lines))
    return Touchpoint(
        uuid.UUID(data["event_id"]), kind, _subject(data["identity"]), at, country, properties
    )


def _subject(identity: dict[str, Any]) -> str:
    for kind in _IDENTITY_KINDS:
        raw = identity.get(kind)
        if raw is None:
            continue
        if not isinstance(raw, str) or not raw.strip():
            raise _NotLean
        if kind == "email":
            value = normalize_email(raw)
        elif kind == "phone":
            value = normalize_phone(raw)
        else:
            value = raw.strip()
        return identifier_hash(kind, value)
    raise _NotLean


def _aware(raw: Any) -> datetime:
    at = datetime.fromisoformat(raw)
    if at.tzinfo is None:
        raise _NotLean
    return at


def _text(raw: Any) -> str:
    value = raw.strip()
    if not 1 <= len(value) <= 200:
        raise _NotLean
    return str(value)


def _name(raw: Any) -> str | None:
    return None if raw is None else str(raw.strip())


def _item(line: dict[str, Any]) -> LeanItem:
    quantity = line["quantity"]
    if type(quantity) is not int or not 0 < quantity <= 1_000_000:
        raise _NotLean
    return LeanItem(_text(line["sku"]), _name(line.get("name")), quantity)


def _retryable(error: BaseException) -> bool:
    """A batch that failed on this is tried again (the database or the broker is away for a
    while), not bisected down to a poison record: both consumers' rule."""
    return is_transient(error) or isinstance(error, BrokerUnavailable)


def fold_topics(settings: RecommenderSettings) -> list[str]:
    """What the stream's fold consumes (in the group `settings.consumer_group`)."""
    return [settings.kafka.topics.touchpoints, settings.kafka.topics.profile_changes]


def build_consumer(
    settings: RecommenderSettings,
    db: Database,
    publisher: Publisher,
    folded: Callable[[Folded], None] = lambda _: None,
) -> ConsumerLoop[Message]:
    """`folded` is told of each batch once it has committed (it wakes the re-rankers)."""
    topics = settings.kafka.topics

    def decode(topic: str, value: bytes) -> Message:
        if topic == topics.profile_changes:
            return decode_change(value)
        return lean_touchpoint(value)

    forgotten_at = [time.monotonic()]

    async def handle(batch: Sequence[Delivered[Message]]) -> None:
        events = [item.value for item in batch if item.topic == topics.touchpoints]
        changes = [item.value for item in batch if item.topic == topics.profile_changes]
        folded(await fold(db, settings, events, changes))  # type: ignore[arg-type]
        if time.monotonic() - forgotten_at[0] > FORGET_CONTACTS_EVERY_SECONDS:
            await forget_old_contacts(db)
            forgotten_at[0] = time.monotonic()

    return ConsumerLoop(
        settings.kafka,
        group_id=settings.consumer_group,
        topics=fold_topics(settings),
        decode=decode,
        handler=handle,
        dead_letters=publisher,
        max_batch=settings.max_batch,
        linger_ms=settings.fold_linger_ms,
        is_transient=_retryable,
    )


def build_express_consumer(
    settings: RecommenderSettings,
    db: Database,
    publisher: Publisher,
    market: MarketReads,
    ranked: Callable[[Sequence[uuid.UUID]], None],
) -> ConsumerLoop[TouchpointEvent | None]:
    """The express lane's consumer: its own group over the urgent topic, where ingest copies
    every complaint and consent (`URGENT_TYPES`), taking the live ones (by the record's time,
    the rest passed over undecoded), folding them ahead of the stream with the same fold,
    ranking the customers they mark at once in the same transaction (`ranked` is told who: it
    sends their offers that changed). The main consumer meets them later on the touchpoints
    topic and, deduping by event id, folds them no second time. What the ranking needs of the
    rest (the customer's purchases, the profile's identity links) the main consumer has folded.

    Ahead of the stream is safe for these facts: a complaint's opening and resolution, and a
    consent's latest change, are kept whatever the order they are folded in. The lane is an
    accelerator, not a second source of truth: a record it passes over, fails on or never
    sees (it was down, or the urgent copy was never written) is folded by the main consumer,
    which marks it at once just the same.

    It read the touchpoints themselves before, choosing by the `event-type` header: passing
    over a steady 1,000 ev/s took such a consumer 26-30% of a core on a host with CPU to
    spare (3% idle), a cost that grows with the stream; the urgent topic grows with the
    complaints and consents only.
    """
    within_ms = settings.at_once_within_seconds * 1000

    def live(record: ConsumerRecord) -> bool:
        return bool(now_utc().timestamp() * 1000 - record.timestamp <= within_ms)

    def decode(topic: str, value: bytes) -> TouchpointEvent | None:
        try:
            event = decode_event(value)
        except ValidationError:
            return None  # the main consumer dead-letters it, with the reason
        if event.type not in RULE_TYPES:
            return None  # not the lane's (the urgent topic holds nothing else from ingest)
        # Sent just now but happened long ago (a store's late upload, a replay): the fold
        # would rank it soon, not at once, so it is the main consumer's.
        return event if event.effective_time >= settings.live_since() else None

    async def handle(batch: Sequence[Delivered[TouchpointEvent | None]]) -> None:
        events = [item.value for item in batch if item.value is not None]
        if events and (customers := await fold_and_rank_at_once(db, settings, events, market)):
            ranked(customers)  # their offers are sent beside the next fold, not before it

    return ConsumerLoop(
        settings.kafka,
        group_id=settings.express_group,
        topics=[settings.kafka.topics.touchpoints_urgent],
        decode=decode,
        handler=handle,
        dead_letters=publisher,
        max_batch=settings.max_batch,
        is_transient=_retryable,
        # A new group starts at the beginning, not at the end: it passes over the last hour
        # by the records' times, undecoded, and misses nothing sent while it joined.
        select=live,
    )
