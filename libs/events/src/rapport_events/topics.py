"""Kafka topic names: the one list that services, tests and the Kubernetes manifests share."""

from __future__ import annotations

from dataclasses import dataclass

TOUCHPOINTS = "rapport.touchpoints.v1"
TOUCHPOINTS_DLQ = "rapport.touchpoints.dlq.v1"
# Copies of the urgent touchpoints (`envelope.URGENT_TYPES`), kept an hour: a lane that acts on
# them at once reads a few records a second instead of passing over the whole stream. The
# touchpoints topic stays the record of everything.
TOUCHPOINTS_URGENT = "rapport.touchpoints.urgent.v1"
PROFILE_CHANGES = "rapport.profile-changes.v1"
OFFERS = "rapport.offers.v1"

ALL_TOPICS = (TOUCHPOINTS, TOUCHPOINTS_DLQ, TOUCHPOINTS_URGENT, PROFILE_CHANGES, OFFERS)


@dataclass(frozen=True)
class Topics:
    """The topic names in force, optionally under a namespace prefix.

    The prefix lets several stacks (or test sessions) share one broker without seeing each
    other's events; production runs with none.
    """

    namespace: str = ""

    @property
    def touchpoints(self) -> str:
        return self.namespace + TOUCHPOINTS

    @property
    def touchpoints_dlq(self) -> str:
        return self.namespace + TOUCHPOINTS_DLQ

    @property
    def touchpoints_urgent(self) -> str:
        return self.namespace + TOUCHPOINTS_URGENT

    @property
    def profile_changes(self) -> str:
        return self.namespace + PROFILE_CHANGES

    @property
    def offers(self) -> str:
        return self.namespace + OFFERS

    def all(self) -> tuple[str, ...]:
        return tuple(self.namespace + name for name in ALL_TOPICS)
