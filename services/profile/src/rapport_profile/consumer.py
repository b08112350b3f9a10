"""The Kafka entry point of the profile service: decode, fold, commit after the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from rapport_events.db import Database
from rapport_events.envelope import TouchpointEvent
from rapport_events.kafka import ConsumerLoop, Publisher
from rapport_events.runtime import touchpoint_consumer
from rapport_profile.handlers import fold_events
from rapport_profile.settings import ProfileSettings


def build_consumer(
    settings: ProfileSettings, db: Database, publisher: Publisher
) -> ConsumerLoop[TouchpointEvent]:
    async def fold(events: Sequence[TouchpointEvent]) -> None:
        await fold_events(db, events)

    return touchpoint_consumer(
        settings.kafka,
        group_id=settings.consumer_group,
        fold=fold,
        dead_letters=publisher,
        max_batch=settings.max_batch,
    )
