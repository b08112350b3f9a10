"""What the console reads and writes, each through the owning service's public HTTP API.

The card and the timeline come from this service's own `/v1/customers` API, called in-process
with the agent's key: the console sees exactly what any call-center client sees, under the same
scope checks, and does not depend on the profile's tables. Offers come from the recommender with
the agent's key (which must carry offers:read: each agent's reads stay attributable to them);
the calls the agent logs go to ingest with the console's own call-center-only key.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from rapport_events.identity import IdentityKind
from rapport_profile.console.settings import ConsoleSettings

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ServiceTrouble(Exception):
    """Another service (or this one's database) could not answer: shown, never raised."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(ServiceTrouble):
    """The service answered, but the key may not do this (401/403)."""


@dataclass(frozen=True)
class Erased:
    erased_at: str | None


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code in (401, 403):
        raise Refused(f"{what}: {_message(response)}")
    if response.status_code >= 500:
        raise ServiceTrouble(f"{what} is not available right now; try again in a moment")
    if response.status_code >= 400:
        raise ServiceTrouble(f"{what}: {_message(response)}")


class ProfileApi:
    """This service's own public API, in-process (no network hop, same auth)."""

    WHAT = "The customer database"

    def __init__(self, app: FastAPI, api_key: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(
            # raise_app_exceptions=False: a crash inside the API (its database gone, say)
            # becomes a 500 answer that the console turns into a message.
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://profile.internal",
            headers=_bearer(api_key),
            timeout=timeout,
        )

    async def __aenter__(self) -> ProfileApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client.get(path, params=params)
        except httpx.HTTPError:
            raise ServiceTrouble(f"{self.WHAT} is not answering right now") from None

    async def lookup(self, kind: IdentityKind, value: str) -> uuid.UUID | None:
        response = await self._get("/v1/customers/lookup", {kind.value: value})
        if response.status_code == 404:
            return None
        if response.status_code == 410:
            raise LookupErased(_erased(response))
        if response.status_code == 400:
            raise BadQuery(_message(response))
        _check(response, self.WHAT)
        return uuid.UUID(response.json()["profile_id"])

    async def card(self, profile_id: uuid.UUID) -> dict[str, Any] | Erased | None:
        response = await self._get(f"/v1/customers/{profile_id}")
        if response.status_code == 404:
            return None
        if response.status_code == 410:
            return _erased(response)
        _check(response, self.WHAT)
        card: dict[str, Any] = response.json()
        return card

    async def timeline(
        self, profile_id: uuid.UUID, *, cursor: str | None, channel: str | None, type_: str | None
    ) -> dict[str, Any] | None:
        params = {"limit": "20"}
        for name, value in (("cursor", cursor), ("channel", channel), ("type", type_)):
            if value:
                params[name] = value
        response = await self._get(f"/v1/customers/{profile_id}/timeline", params)
        if response.status_code in (404, 410):
            return None
        _check(response, self.WHAT)
        page: dict[str, Any] = response.json()
        return page


def _erased(response: httpx.Response) -> Erased:
    """410 Gone: "this customer was erased on 2025-03-01"."""
    found = _DATE.search(_message(response))
    return Erased(found.group(0) if found else None)


class LookupErased(Exception):
    def __init__(self, erased: Erased) -> None:
        super().__init__("erased")
        self.erased = erased


class BadQuery(Exception):
    """The identifier is not valid for its kind (say, a phone number with letters)."""


async def fetch_offers(
    settings: ConsoleSettings, api_key: str, profile_id: uuid.UUID
) -> list[dict[str, Any]]:
    what = "Offers (the recommender)"
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            response = await client.get(
                f"{settings.recommender_url}/v1/customers/{profile_id}/offers",
                params={"limit": "5"},
                headers=_bearer(api_key),
            )
    except httpx.HTTPError:
        raise ServiceTrouble(f"{what} are not available right now") from None
    _check(response, what)
    offers: list[dict[str, Any]] = response.json().get("offers", [])
    return offers


async def post_event(settings: ConsoleSettings, event: dict[str, Any]) -> None:
    what = "Logging the call (ingest)"
    api_key = settings.ingest_key.get_secret_value()
    if not api_key:
        raise ServiceTrouble(f"{what} is not configured: set RAPPORT_CONSOLE_INGEST_KEY")
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            response = await client.post(
                f"{settings.ingest_url}/v1/events", json=event, headers=_bearer(api_key)
            )
    except httpx.HTTPError:
        raise ServiceTrouble(f"{what} is not available right now; nothing was saved") from None
    if response.status_code >= 500:
        raise ServiceTrouble(f"{what} is not available right now; nothing was saved")
    _check(response, what)
