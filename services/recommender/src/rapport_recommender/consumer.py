"""The Kafka entry point of the recommender: touchpoints and profile changes, folded together
in one transaction per batch; offsets commit after it; the re-ranker is woken after it (it
ranks the customers the batch touched and publishes the best offers that changed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rapport_events.changes import ProfileChange, decode_change
from rapport_events.codec import decode_event
from rapport_events.db import Database, is_transient
from rapport_events.envelope import TouchpointEvent
from rapport_events.kafka import BrokerUnavailable, ConsumerLoop, Publisher
from rapport_events.kafka.consumer import Delivered
from rapport_recommender.handlers import fold, forget_old_contacts
from rapport_recommender.settings import RecommenderSettings

Message = TouchpointEvent | ProfileChange
FORGET_CONTACTS_EVERY_SECONDS = 600.0


def build_consumer(
    settings: RecommenderSettings,
    db: Database,
    publisher: Publisher,
    folded: Callable[[], None] = lambda: None,
) -> ConsumerLoop[Message]:
    """`folded` is called after each batch has committed (it wakes the re-ranker)."""
    topics = settings.kafka.topics

    def decode(topic: str, value: bytes) -> Message:
        if topic == topics.profile_changes:
            return decode_change(value)
        return decode_event(value)

    forgotten_at = [time.monotonic()]

    async def handle(batch: Sequence[Delivered[Message]]) -> None:
        events = [item.value for item in batch if item.topic == topics.touchpoints]
        changes = [item.value for item in batch if item.topic == topics.profile_changes]
        await fold(db, settings, events, changes)  # type: ignore[arg-type]
        folded()
        if time.monotonic() - forgotten_at[0] > FORGET_CONTACTS_EVERY_SECONDS:
            await forget_old_contacts(db)
            forgotten_at[0] = time.monotonic()

    return ConsumerLoop(
        settings.kafka,
        group_id=settings.consumer_group,
        topics=[topics.touchpoints, topics.profile_changes],
        decode=decode,
        handler=handle,
        dead_letters=publisher,
        max_batch=settings.max_batch,
        is_transient=lambda error: is_transient(error) or isinstance(error, BrokerUnavailable),
    )
