"""Topic administration: create the topics a service needs, if they are missing; delete a
namespace's topics when a local stack or a test is done with them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from rapport_events.settings import KafkaSettings


@asynccontextmanager
async def _admin(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        **settings.client_options(), client_id=f"{settings.client_id}-admin"
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: KafkaSettings, names: tuple[str, ...] | None = None) -> None:
    """Create the topics (all of Rapport's by default) that do not exist yet.

    In production the topics are declared as Strimzi `KafkaTopic` resources; this is for local
    stacks and tests, where the broker does not auto-create topics.
    """
    async with _admin(settings) as admin:
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


async def delete_topics(settings: KafkaSettings, extra: Sequence[str] = ()) -> None:
    """Delete Rapport's topics under the settings' namespace and `extra` ones, those that
    exist: a benchmark's or a test's namespace goes with it, so that a long-lived local broker
    does not gather a few topics per run. Never for a namespace in service."""
    async with _admin(settings) as admin:
        existing = set(await admin.list_topics())
        # Each name once: the broker refuses a deletion that names a topic twice.
        doomed = sorted({name for name in (*settings.topics.all(), *extra) if name in existing})
        if doomed:
            await admin.delete_topics(doomed)
