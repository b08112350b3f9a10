"""Admission rules for touchpoint events: pure functions, no HTTP, no Kafka."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rapport_events.envelope import TouchpointEvent, corrected_time


@dataclass(frozen=True)
class TimeWindow:
    max_age: timedelta
    max_ahead: timedelta


class Inadmissible(ValueError):
    """An event that is well-formed but cannot be accepted; `field` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def admit(event: TouchpointEvent, received_at: datetime, window: TimeWindow) -> TouchpointEvent:
    """Stamp `received_at` and the skew-corrected `timestamp`, or refuse the event."""
    timestamp = corrected_time(event.occurred_at, event.sent_at, received_at)
    if timestamp > received_at + window.max_ahead:
        raise Inadmissible("occurred_at", "lies in the future (check the sender's clock)")
    if timestamp < received_at - window.max_age:
        raise Inadmissible(
            "occurred_at", f"is older than {window.max_age.days} days: too old to accept"
        )
    return event.model_copy(update={"received_at": received_at, "timestamp": timestamp})
