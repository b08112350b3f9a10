"""Kafka plumbing written once: the publisher, the consumer loop, a group's lag seen from
outside it, and topic administration."""

from rapport_events.kafka.admin import delete_topics, ensure_topics
from rapport_events.kafka.consumer import ConsumerLoop, Handler
from rapport_events.kafka.lag import GroupLag
from rapport_events.kafka.producer import BrokerUnavailable, Publisher

__all__ = [
    "BrokerUnavailable",
    "ConsumerLoop",
    "GroupLag",
    "Handler",
    "Publisher",
    "delete_topics",
    "ensure_topics",
]
