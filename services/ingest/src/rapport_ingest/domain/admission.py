"""Admission rules for touchpoint events: pure functions, no HTTP, no Kafka."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ValidationError

from rapport_events.envelope import TouchpointEvent, corrected_time, validation_problems
from rapport_ingest.domain.privacy import truncate_ip


class Reason(StrEnum):
    """Why an event was refused: a closed set, so it can label metrics without blowing them up."""

    MALFORMED = "malformed"  # not JSON, or not a JSON object
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"  # a field breaks the contract
    TOO_LARGE = "too_large"
    FORBIDDEN_CHANNEL = "forbidden_channel"
    IN_FUTURE = "in_future"
    TOO_OLD = "too_old"


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


@dataclass
class Refused(Exception):
    """An event that cannot be accepted: why (a `Reason`) and which fields are wrong."""

    why: Reason
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{problem.field}: {problem.reason}" for problem in self.problems)


@dataclass(frozen=True)
class TimeWindow:
    max_age: timedelta
    max_ahead: timedelta


def refusal(error: ValidationError) -> Refused:
    """A contract violation as a refusal naming each field, in the senders' terms."""
    kinds = {item["type"] for item in error.errors(include_url=False)}
    problems = [Problem(item["field"], item["reason"]) for item in validation_problems(error)]
    if "json_invalid" in kinds:
        return Refused(Reason.MALFORMED, problems)
    if kinds & {"dict_type", "model_type", "model_attributes_type"} and all(
        problem.field == "(body)" for problem in problems
    ):
        return Refused(Reason.MALFORMED, [Problem("(event)", "an event must be a JSON object")])
    if "union_tag_invalid" in kinds:
        return Refused(Reason.UNKNOWN_TYPE, problems)
    return Refused(Reason.INVALID, problems)


def admit(
    event: TouchpointEvent,
    received_at: datetime,
    window: TimeWindow,
    may_write_channel: Callable[[str], bool],
) -> TouchpointEvent:
    """The event as it is published, or `Refused`.

    Checks that the sender may write the event's channel and that its corrected time is
    plausible; stamps `received_at` and the skew-corrected `timestamp`; truncates `context.ip`
    so that no address is ever stored in clear.
    """
    if not may_write_channel(event.channel):
        raise Refused(
            Reason.FORBIDDEN_CHANNEL,
            [
                Problem(
                    "channel", f"this API key may not write events on the {event.channel} channel"
                )
            ],
        )
    try:
        timestamp = corrected_time(event.occurred_at, event.sent_at, received_at)
    except OverflowError:  # found by schemathesis: year-1 occurred_at, year-9999 sent_at
        raise Refused(
            Reason.INVALID,
            [Problem("sent_at", "is too far from occurred_at to correct the sender's clock")],
        ) from None
    if timestamp > received_at + window.max_ahead:
        raise Refused(
            Reason.IN_FUTURE,
            [Problem("occurred_at", "lies in the future (check the sender's clock)")],
        )
    if timestamp < received_at - window.max_age:
        raise Refused(
            Reason.TOO_OLD,
            [
                Problem(
                    "occurred_at", f"is older than {window.max_age.days} days: too old to accept"
                )
            ],
        )
    update: dict[str, object] = {"received_at": received_at, "timestamp": timestamp}
    if event.context.ip is not None:
        try:
            ip = truncate_ip(event.context.ip)
        except ValueError as error:
            raise Refused(Reason.INVALID, [Problem("context.ip", str(error))]) from None
        update["context"] = event.context.model_copy(update={"ip": ip})
    return event.model_copy(update=update)
