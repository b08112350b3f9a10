"""API keys with scopes: `Authorization: Bearer <key>` on every endpoint but health.

Keys are configured as SHA-256 digests, never in clear. A key is a long random token, so a
fast hash is enough (no password stretching needed) and keeps authentication off the hot
path's profile. A key may be limited to channels: `events:write` for `store` only, say.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, TypeAdapter


class Scope:
    EVENTS_WRITE = "events:write"
    PROFILES_READ = "profiles:read"
    PROFILES_ERASE = "profiles:erase"
    OFFERS_READ = "offers:read"

    ALL = (EVENTS_WRITE, PROFILES_READ, PROFILES_ERASE, OFFERS_READ)


class ApiKeyEntry(BaseModel):
    """One configured key: its name (for logs and metrics), digest, scopes and channels."""

    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[str] = Field(min_length=1)
    channels: list[str] | None = Field(None, description="events:write only on these channels")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name, never the key."""

    name: str
    scopes: frozenset[str]
    channels: frozenset[str] | None = field(default=None)

    def may_write_channel(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key, e.g. for `make run`'s development key."""
    return "rk_" + secrets.token_urlsafe(32)


class KeyRing:
    def __init__(self, entries: Iterable[ApiKeyEntry]) -> None:
        self._by_digest = {
            entry.sha256: Principal(
                entry.name,
                frozenset(entry.scopes),
                frozenset(entry.channels) if entry.channels is not None else None,
            )
            for entry in entries
        }

    @classmethod
    def from_json(cls, raw: str) -> KeyRing:
        return cls(TypeAdapter(list[ApiKeyEntry]).validate_json(raw or "[]"))

    def identify(self, key: str) -> Principal | None:
        return self._by_digest.get(hash_key(key))


_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the calling principal, if its key carries `scope`.

    The key ring is `request.app.state.key_ring`, set by each service's app factory.
    """

    # async: a plain `def` dependency would be run in a worker thread on every request.
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("missing API key: send Authorization: Bearer <key>")
        key_ring: KeyRing = request.app.state.key_ring
        principal = key_ring.identify(credentials.credentials)
        if principal is None:
            raise _unauthorized("unknown API key")
        if scope not in principal.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"this API key lacks the scope {scope}"
            )
        return principal

    return dependency


def bearer_principal(
    headers: Iterable[tuple[bytes, bytes]], key_ring: KeyRing, scope: str
) -> Principal | None:
    """The principal of raw ASGI headers' `Authorization: Bearer <key>` (read as HTTPBearer
    reads it) if its key carries `scope`; None for anything else. For paths answered before
    routing (`service.install_shortcut`), which hand anything None to the route and its 401/403.
    """
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not key:
                return None
            principal = key_ring.identify(key)
            return principal if principal is not None and scope in principal.scopes else None
    return None
