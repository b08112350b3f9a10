"""Settings, loaded one way: pydantic-settings from `RAPPORT_*` environment variables.

Each service subclasses `ServiceSettings` with its own fields; the defaults are what `make run`
uses on a laptop, so a developer sets nothing and an operator sets everything explicitly.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rapport_events.topics import Topics


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="comma-separated host:port")
    topic_namespace: str = Field("", description="prefix of every topic name (test isolation)")
    client_id: str = "rapport"
    request_timeout_ms: int = 10_000
    # The producer gives up on an event after this long: the HTTP caller gets a 503 instead of
    # waiting forever on a dead broker.
    delivery_timeout_ms: int = 5_000
    linger_ms: int = 5
    max_batch_size: int = 256 * 1024
    compression_type: str | None = "lz4"
    partitions: int = Field(12, description="partitions of topics the services create")
    replication_factor: int = 1

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_namespace)


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: SecretStr = Field(
        SecretStr("postgresql+asyncpg://rapport:rapport@127.0.0.1:55432/rapport"),
        description="SQLAlchemy URL of the service's own database",
    )
    database_pool_size: int = 10


class ServiceSettings(BaseSettings):
    """What every service has: where it listens, how it logs, who may call it."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    api_keys: SecretStr = Field(
        SecretStr("[]"),
        description=(
            "JSON list of API keys: "
            '[{"name": "storefront", "sha256": "<hex>", "scopes": ["events:write"], '
            '"channels": ["web"]}]; keys are stored hashed, never in clear'
        ),
    )
    phone_region: str = Field("GB", description="region of phone numbers without a country code")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
