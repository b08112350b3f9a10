"""One-line human summaries of interactions, for the timeline an agent reads during a call."""

from __future__ import annotations

from rapport_events.envelope import TouchpointEvent


def summarize(event: TouchpointEvent) -> str:
    """A short sentence saying what happened. Never includes identifiers."""
    return event.type.replace("_", " ").capitalize()
