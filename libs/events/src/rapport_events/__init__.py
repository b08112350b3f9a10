"""The Rapport event contract and the plumbing every service shares."""

from rapport_events.envelope import (
    EVENT_TYPES,
    PROPERTIES_BY_TYPE,
    Channel,
    Context,
    TouchpointEvent,
    parse_event,
)
from rapport_events.identity import Identity, IdentityKind, message_key

__all__ = [
    "EVENT_TYPES",
    "PROPERTIES_BY_TYPE",
    "Channel",
    "Context",
    "Identity",
    "IdentityKind",
    "TouchpointEvent",
    "message_key",
    "parse_event",
]
