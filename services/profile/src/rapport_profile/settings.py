"""Profile settings: the shared service settings plus its database and consumer group."""

from __future__ import annotations

from pydantic import Field

from rapport_events.settings import DatabaseSettings, ServiceSettings


class ProfileSettings(ServiceSettings):
    port: int = 8002
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    consumer_group: str = "rapport-profile"
    consumer_enabled: bool = Field(True, description="fold the stream in this process")
    max_batch: int = Field(2000, description="most events folded in one transaction")
    state_cache_size: int = Field(
        10_000,
        ge=0,
        description="profiles the consumer keeps decoded between batches (0: none); each costs "
        "about 1.5 kB of memory (more for a profile with many traits or cases)",
    )
    state_cache_check_s: float = Field(
        5,
        gt=0,
        description="how often cached profiles are checked against their rows, so that one "
        "erased or merged away by another instance leaves this one's memory",
    )
    outbox_interval_s: float = Field(
        5, description="how often changes left unpublished (crash, broker outage) are retried"
    )
    refresh_interval_s: float = Field(
        900, description="how often tiers, RFM scores and lifecycle stages are re-ranked; 0: never"
    )
