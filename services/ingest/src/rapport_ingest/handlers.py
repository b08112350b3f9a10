"""Intake use cases: screen events against the contract and the admission rules, publish the
admitted ones, and answer only once Kafka has acknowledged every one of them.

Idempotency: a re-posted `event_id` is answered as accepted. The guarantee that its effect
happens once is downstream — profile and recommender dedupe by `event_id` inside their database
transaction. `RecentIds` only spares the broker the re-post of an id this process has just
published (a cheap optimisation, lost on restart, not shared between replicas).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from rapport_events.auth import Principal
from rapport_events.codec import encode_event, event_headers
from rapport_events.envelope import EVENT_ADAPTER, URGENT_TYPES, TouchpointEvent, now_utc
from rapport_events.identity import message_key
from rapport_events.kafka import Publisher
from rapport_ingest import metrics
from rapport_ingest.domain.admission import Problem, Reason, Refused, admit, refusal
from rapport_ingest.domain.esp import envelope_from_sendgrid
from rapport_ingest.domain.recent import RecentIds
from rapport_ingest.settings import IngestSettings


@dataclass(frozen=True)
class Rejected:
    index: int
    field: str
    reason: str
    why: Reason


@dataclass
class BatchOutcome:
    accepted: list[tuple[int, uuid.UUID]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)


class Intake:
    def __init__(self, settings: IngestSettings, publisher: Publisher) -> None:
        self._settings = settings
        self._publisher = publisher
        self._topic = settings.kafka.topics.touchpoints
        # Complaints and consents are copied there too, for what acts on them at once; an
        # event is accepted once both have it (a retry is deduped by event id downstream).
        self._urgent = settings.kafka.topics.touchpoints_urgent
        self._window = settings.time_window
        self._context = {"phone_region": settings.phone_region}
        self._recent = RecentIds(settings.recent_ids)

    # --- screening: pure apart from the clock ---------------------------------------------------

    def _admit(
        self, event: TouchpointEvent, principal: Principal, received_at: datetime
    ) -> TouchpointEvent:
        return admit(event, received_at, self._window, principal.may_write_channel)

    def screen_json(self, raw: bytes, principal: Principal) -> TouchpointEvent:
        """One event from the raw request body, validated straight from the bytes."""
        try:
            event = EVENT_ADAPTER.validate_json(raw, context=self._context)
        except ValidationError as error:
            raise refusal(error) from None
        return self._admit(event, principal, now_utc())

    def _screen_many(
        self, items: Iterable[tuple[int, Any]], principal: Principal, outcome: BatchOutcome
    ) -> list[tuple[int, TouchpointEvent]]:
        received_at = now_utc()
        limit = self._settings.max_event_bytes
        admitted: list[tuple[int, TouchpointEvent]] = []
        for index, item in items:
            try:
                # The event's own bytes serve twice: for its size, and for validation, which
                # pydantic does faster from JSON than from Python objects (measured ~40%).
                raw = orjson.dumps(item)
                if len(raw) > limit:
                    raise Refused(
                        Reason.TOO_LARGE,
                        [
                            Problem(
                                "(event)", f"the event is {len(raw)} bytes; at most {limit} allowed"
                            )
                        ],
                    )
                try:
                    event = EVENT_ADAPTER.validate_json(raw, context=self._context)
                except ValidationError as error:
                    raise refusal(error) from None
                admitted.append((index, self._admit(event, principal, received_at)))
            except Refused as refused:
                metrics.EVENTS_REJECTED.labels(metrics.type_label(item), refused.why).inc()
                outcome.rejected.extend(
                    Rejected(index, problem.field, problem.reason, refused.why)
                    for problem in refused.problems
                )
        return admitted

    # --- use cases ----------------------------------------------------------------------------

    async def accept_one(self, raw: bytes, principal: Principal) -> uuid.UUID:
        """Publish one event; raises Refused, or BrokerUnavailable (nothing accepted)."""
        try:
            event = self.screen_json(raw, principal)
        except Refused as refused:
            try:
                label = metrics.type_label(orjson.loads(raw))
            except orjson.JSONDecodeError:
                label = "unknown"
            metrics.EVENTS_REJECTED.labels(label, refused.why).inc()
            raise
        await self._publish([event], principal)
        return event.event_id

    async def accept_many(self, items: Sequence[Any], principal: Principal) -> BatchOutcome:
        """Publish the valid events of a batch together; list the others with their reasons.

        Raises BrokerUnavailable if Kafka does not acknowledge all of them: then nothing is
        reported as accepted (some may have reached Kafka; a retry is deduped by event id).
        """
        outcome = BatchOutcome()
        admitted = self._screen_many(enumerate(items), principal, outcome)
        await self._publish([event for _, event in admitted], principal)
        outcome.accepted = [(index, event.event_id) for index, event in admitted]
        return outcome

    async def accept_sendgrid(self, items: Sequence[Any], principal: Principal) -> BatchOutcome:
        """An email platform's webhook: its events mapped to ours, then screened like a batch."""
        outcome = BatchOutcome()
        envelopes: list[tuple[int, Any]] = []
        for index, item in enumerate(items):
            mapped = envelope_from_sendgrid(item)
            if mapped is None:
                outcome.ignored.append(index)
            elif isinstance(mapped, Problem):
                metrics.EVENTS_REJECTED.labels("unknown", Reason.INVALID).inc()
                outcome.rejected.append(
                    Rejected(index, mapped.field, mapped.reason, Reason.INVALID)
                )
            else:
                envelopes.append((index, mapped))
        admitted = self._screen_many(envelopes, principal, outcome)
        await self._publish([event for _, event in admitted], principal)
        outcome.accepted = [(index, event.event_id) for index, event in admitted]
        outcome.rejected.sort(key=lambda rejected: rejected.index)
        return outcome

    # --- publishing ---------------------------------------------------------------------------

    async def _publish(self, events: Sequence[TouchpointEvent], principal: Principal) -> None:
        fresh: dict[uuid.UUID, TouchpointEvent] = {}
        for event in events:
            if event.event_id in self._recent or event.event_id in fresh:
                metrics.DUPLICATES_SUPPRESSED.inc()
            else:
                fresh[event.event_id] = event
        if fresh:
            records = [
                (
                    message_key(event.identity),
                    encode_event(event),
                    event_headers(event, principal.name),
                )
                for event in fresh.values()
            ]
            urgent = [
                record
                for record, event in zip(records, fresh.values(), strict=True)
                if event.type in URGENT_TYPES
            ]
            started = time.perf_counter()
            try:
                await asyncio.gather(
                    self._publisher.publish_many(self._topic, records),
                    *([self._publisher.publish_many(self._urgent, urgent)] if urgent else []),
                )
            except Exception:
                metrics.PUBLISH_FAILURES.inc()
                raise
            metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
            for event_id in fresh:
                self._recent.remember(event_id)
        for event in events:
            metrics.EVENTS_ACCEPTED.labels(event.type).inc()
