"""Ingest's Prometheus metrics (requests in flight and HTTP latency are the shared ones of
rapport_events.observability). Label values come from closed sets (event types, `Reason`),
never from what a sender wrote, so a hostile sender cannot create unbounded series."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from rapport_events.envelope import PROPERTIES_BY_TYPE

EVENTS_ACCEPTED = Counter(
    "rapport_ingest_events_accepted_total", "events acknowledged by Kafka", ["type"]
)
EVENTS_REJECTED = Counter(
    "rapport_ingest_events_rejected_total", "events refused, by why", ["type", "reason"]
)
DUPLICATES_SUPPRESSED = Counter(
    "rapport_ingest_duplicates_suppressed_total",
    "re-posted events answered from memory instead of being published again",
)
PUBLISH_SECONDS = Histogram(
    "rapport_ingest_publish_seconds",
    "time from handing a request's events to the producer until Kafka acknowledged them all",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PUBLISH_FAILURES = Counter(
    "rapport_ingest_publish_failures_total", "requests answered 503: Kafka did not acknowledge"
)


def type_label(data: Any) -> str:
    """The event type as a label: a known type, or `unknown`."""
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind in PROPERTIES_BY_TYPE else "unknown"
