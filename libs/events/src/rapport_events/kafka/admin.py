"""Topic administration: create the topics a service needs, if they are missing."""

from __future__ import annotations

from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from rapport_events.settings import KafkaSettings


async def ensure_topics(settings: KafkaSettings, names: tuple[str, ...] | None = None) -> None:
    """Create the topics (all of Rapport's by default) that do not exist yet.

    In production the topics are declared as Strimzi `KafkaTopic` resources; this is for local
    stacks and tests, where the broker does not auto-create topics.
    """
    admin = AIOKafkaAdminClient(
        **settings.client_options(), client_id=f"{settings.client_id}-admin"
    )
    await admin.start()
    try:
        wanted = names or settings.topics.all()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor)
            for name in wanted
            if name not in existing
        ]
        if missing:
            # Another service may create the same topic at the same moment.
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
