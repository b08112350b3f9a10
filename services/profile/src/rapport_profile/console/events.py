"""The events a logged call becomes: pure functions from the agent's form to touchpoint events.

Each is checked against the shared contract here, before it is posted, so that a bad form gets a
message naming the field instead of a round trip to ingest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from rapport_events.envelope import EVENT_ADAPTER, validation_problems
from rapport_events.identity import IdentityKind


class ComplaintAction(StrEnum):
    NONE = "none"
    OPENED = "opened"
    RESOLVED = "resolved"


class InvalidForm(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CallLog:
    """What the agent filled in about one call."""

    outcome: str
    note: str
    complaint: ComplaintAction
    case_id: str  # the open case being resolved
    category: str  # of a newly opened complaint
    severity: str


def strongest_identifier(identities: dict[str, list[str]]) -> dict[str, str]:
    """The profile's strongest identifier, by the message key rule: one event identity."""
    for kind in IdentityKind:
        values = identities.get(kind.value) or []
        if values:
            return {kind.value: values[0]}
    raise InvalidForm(["this customer has no identifier left to log the call against"])


def _envelope(
    type_: str, identity: dict[str, str], agent: str, now: datetime, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "channel": "call_center",
        "occurred_at": now.isoformat(),
        "identity": identity,
        "properties": properties,
        "context": {"source": "rapport-console", "agent_id": agent},
    }


def _checked(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    problems: list[str] = []
    for event in events:
        try:
            EVENT_ADAPTER.validate_python(event)
        except ValidationError as error:
            problems += [
                f"{problem['field'].removeprefix('properties.')}: {problem['reason']}"
                for problem in validation_problems(error)
            ]
    if problems:
        raise InvalidForm(problems)
    return events


def call_events(
    log: CallLog, *, identity: dict[str, str], agent: str, now: datetime
) -> list[dict[str, Any]]:
    """The call ends; a complaint is opened or resolved with it. Oldest first, as they happened."""
    events: list[dict[str, Any]] = []
    if log.complaint is ComplaintAction.OPENED:
        complaint: dict[str, Any] = {"case_id": f"case-{uuid.uuid4().hex[:10]}"}
        if log.category.strip():
            complaint["category"] = log.category.strip()
        if log.severity.strip():
            complaint["severity"] = log.severity.strip()
        if log.note.strip():
            complaint["description"] = log.note.strip()
        events.append(_envelope("complaint_logged", identity, agent, now, complaint))
    elif log.complaint is ComplaintAction.RESOLVED:
        if not log.case_id.strip():
            raise InvalidForm(["choose the open complaint this call resolved"])
        resolved: dict[str, Any] = {"case_id": log.case_id.strip()}
        if log.outcome.strip():
            resolved["resolution"] = log.outcome.strip()
        events.append(_envelope("case_resolved", identity, agent, now, resolved))
    ended: dict[str, Any] = {"call_id": f"call-{uuid.uuid4().hex[:10]}"}
    if log.outcome.strip():
        ended["outcome"] = log.outcome.strip()
    if log.note.strip():
        ended["note"] = log.note.strip()
    events.append(_envelope("call_ended", identity, agent, now, ended))
    return _checked(events)


def offer_event(
    offer: dict[str, Any],
    *,
    accepted: bool,
    identity: dict[str, str],
    agent: str,
    now: datetime,
) -> dict[str, Any]:
    """The customer's answer to an offer the agent read out: presented on the phone."""
    properties = {
        "offer_id": offer["offer_id"],
        "kind": offer["kind"],
        "items": list(offer.get("items") or []),
        "channel": "call_center",
    }
    type_ = "offer_accepted" if accepted else "offer_declined"
    return _checked([_envelope(type_, identity, agent, now, properties)])[0]
