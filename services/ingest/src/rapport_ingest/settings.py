"""Ingest settings: the shared service settings plus the intake limits."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from rapport_events.settings import ServiceSettings
from rapport_ingest.domain.admission import TimeWindow


class IngestSettings(ServiceSettings):
    port: int = 8001
    max_event_bytes: int = Field(32 * 1024, description="largest single event accepted")
    max_request_bytes: int = Field(512 * 1024, description="largest request body accepted")
    max_batch_events: int = Field(500, description="most events in one batch")
    max_event_age_days: int = Field(366, description="oldest occurred_at accepted")
    max_clock_ahead_minutes: int = Field(
        15, description="how far in the future occurred_at may be, after skew correction"
    )
    retry_after_seconds: int = Field(5, description="Retry-After sent with a 503")
    cors_origins: list[str] = Field(default_factory=list, description="browser storefronts")
    recent_ids: int = Field(
        50_000,
        description=(
            "event ids remembered to answer a re-post without publishing it again (0: off); "
            "an optimisation only, the consumers dedupe by event_id"
        ),
    )

    @property
    def time_window(self) -> TimeWindow:
        return TimeWindow(
            max_age=timedelta(days=self.max_event_age_days),
            max_ahead=timedelta(minutes=self.max_clock_ahead_minutes),
        )
