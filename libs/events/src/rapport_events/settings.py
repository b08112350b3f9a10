"""Settings, loaded one way: pydantic-settings from `RAPPORT_*` environment variables.

Each service subclasses `ServiceSettings` with its own fields; the defaults are what `make run`
uses on a laptop, so a developer sets nothing and an operator sets everything explicitly.
"""

from __future__ import annotations

import ssl
from typing import Any

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
    # How long a batch waits for more records before it is sent. aiokafka keeps one request in
    # flight per broker, so the linger only delays a record that finds the sender idle: 1 ms
    # answered ingest's single events ~4 ms sooner with CPU to spare (p99 4.6-5.0 ms against
    # 8.5-27.5 at 1,000 req/s), but with the two cores saturated (the offer scenario) ingest
    # fell behind its load in all four alternating pairs (its posts' p99 0.9-2.8 s against
    # 0.7-1.2 s at 5 ms): smaller produce requests cost it more CPU per event.
    linger_ms: int = 5
    max_batch_size: int = 256 * 1024
    compression_type: str | None = "lz4"
    # What a consumer fetches ahead per partition. aiokafka's 1 MiB default, over 12
    # partitions, buffered up to ~12 MiB compressed (several times that as records) while a
    # backlog was folded: measured +18-24 MB of RSS against +12-13 MB at 256 KiB, and 256 KiB
    # still holds thousands of events per partition, more than a batch takes.
    max_partition_fetch_bytes: int = 256 * 1024
    # How long the broker holds a consumer's fetch open when there is nothing new. aiokafka
    # re-fetches a partition only once its buffered records are taken, so a record arriving
    # while a batch is folded can wait for a fetch held open on the other partitions (200 ms
    # before): freshness p50 65 -> 58 ms at 1,000 ev/s. Short waits cost only empty fetches
    # on an idle stream.
    fetch_max_wait_ms: int = 20
    partitions: int = Field(12, description="partitions of topics the services create")
    replication_factor: int = 1
    # How the clients authenticate: PLAINTEXT locally; SASL_SSL with SCRAM against the Strimzi
    # cluster in Kubernetes, where each service is a KafkaUser with its own ACLs.
    security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    )
    sasl_mechanism: str | None = Field(None, description="e.g. SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = Field(
        None, description="CA bundle that signed the brokers' certificates"
    )

    def client_options(self) -> dict[str, Any]:
        """Connection options every aiokafka client (producer, consumer, admin) takes."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return options

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
    keep_alive_seconds: int = Field(
        75,
        ge=1,
        description="how long an idle client connection is kept open: longer than the idle "
        "timeout of whatever sits in front (a load balancer's is often 60 s), so that the "
        "client side closes first. Where the service closes first, a request sent on the "
        "connection as it closes fails: a 502 from a balancer, a read error in a client",
    )
    phone_region: str = Field("GB", description="region of phone numbers without a country code")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
