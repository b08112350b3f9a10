"""The console's settings: where the other services answer, and how sessions are sealed.

A class of its own (prefix `RAPPORT_CONSOLE_`) so that the console stays a removable part of the
profile service: the app keeps it in `app.state.console_settings` (tests replace it there).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_CONSOLE_", extra="ignore")

    recommender_url: str = Field(
        "http://127.0.0.1:8003", description="base URL of the recommender's HTTP API"
    )
    ingest_url: str = Field("http://127.0.0.1:8001", description="base URL of ingest's HTTP API")
    ingest_key: SecretStr = Field(
        SecretStr(""),
        description=(
            "the console's own key for ingest: events:write limited to the call_center channel; "
            "the calls the agents log are posted with it, never with the agent's key"
        ),
    )
    session_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "seals the session cookie (any long random string, the same on every replica); "
            "empty: a random one per process, so a restart signs every agent out"
        ),
    )
    session_hours: float = Field(10, gt=0, description="a session ends this long after sign-in")
    cookie_secure: bool | None = Field(
        None, description="mark the cookie Secure; unset: when the request came over https"
    )
    timeout_seconds: float = Field(3, gt=0, description="patience with the other services")
