"""API keys for tests: one per role, with exactly the scopes that role needs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rapport_events.auth import Scope, hash_key, new_key


@dataclass(frozen=True)
class ApiKeys:
    writer: str  # events:write, any channel
    store_writer: str  # events:write, store channel only
    reader: str  # profiles:read
    eraser: str  # profiles:erase
    offers: str  # offers:read
    nothing: str  # a valid key with no useful scope
    agent: str  # a call-center agent at the console: profiles:read and offers:read
    console_ingest: str  # the console's own key: events:write on the call_center channel only

    def config(self) -> str:
        entries = [
            ("writer", self.writer, [Scope.EVENTS_WRITE], None),
            ("store-writer", self.store_writer, [Scope.EVENTS_WRITE], ["store"]),
            ("reader", self.reader, [Scope.PROFILES_READ], None),
            ("eraser", self.eraser, [Scope.PROFILES_ERASE, Scope.PROFILES_READ], None),
            ("offers", self.offers, [Scope.OFFERS_READ], None),
            ("nothing", self.nothing, ["metrics:read"], None),
            ("agent-ada", self.agent, [Scope.PROFILES_READ, Scope.OFFERS_READ], None),
            ("console", self.console_ingest, [Scope.EVENTS_WRITE], ["call_center"]),
        ]
        return json.dumps(
            [
                {"name": name, "sha256": hash_key(key), "scopes": scopes, "channels": channels}
                for name, key, scopes, channels in entries
            ]
        )

    @staticmethod
    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


def make_keys() -> ApiKeys:
    return ApiKeys(*(new_key() for _ in range(8)))
