"""The agent's session: the API key they signed in with, sealed in an HttpOnly cookie.

The cookie is encrypted and authenticated (Fernet: AES-CBC with an HMAC, and a timestamp), so
the browser holds only an opaque token: the key never shows in a URL, a log or the page, and a
tampered or expired cookie is simply no session. Stateless, so every replica of the profile
service shares the sessions given the same `RAPPORT_CONSOLE_SESSION_SECRET`, and a rolling
restart does not sign agents out in the middle of a call. The key is checked against the key
ring on every request, so removing a key from the configuration ends its sessions at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

COOKIE = "rapport_console"
# Before sign-in there is no session to bind a CSRF token to: the sign-in form's token is
# checked against this cookie instead (double submit), so no other site can sign an agent in.
SIGNIN_COOKIE = "rapport_console_signin"


@dataclass(frozen=True)
class Session:
    api_key: str
    csrf_token: str

    @staticmethod
    def start(api_key: str) -> Session:
        return Session(api_key=api_key, csrf_token=secrets.token_urlsafe(32))

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(submitted, self.csrf_token)


class SessionSeal:
    """Seals a session into a cookie value and opens it again, if untampered and fresh."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        # Any secret string becomes a Fernet key; none means a random key for this process.
        raw = hashlib.sha256(secret.encode()).digest() if secret else secrets.token_bytes(32)
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))
        self.max_age_seconds = max_age_seconds

    def seal(self, session: Session) -> str:
        payload = json.dumps({"k": session.api_key, "c": session.csrf_token}).encode()
        return self._fernet.encrypt(payload).decode()

    def open(self, token: str | None) -> Session | None:
        if not token:
            return None
        try:
            payload = json.loads(self._fernet.decrypt(token.encode(), ttl=self.max_age_seconds))
            return Session(api_key=str(payload["k"]), csrf_token=str(payload["c"]))
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None
