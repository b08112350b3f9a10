"""The bounded memory of just-published event ids."""

from __future__ import annotations

import uuid

from rapport_ingest.domain.recent import RecentIds


def test_it_remembers_up_to_its_capacity_forgetting_the_least_recently_seen() -> None:
    recent = RecentIds(3)
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    for event_id in (a, b, c):
        recent.remember(event_id)
    assert a in recent  # touching a makes b the oldest
    recent.remember(d)
    assert len(recent) == 3
    assert b not in recent
    assert a in recent
    assert c in recent
    assert d in recent


def test_capacity_zero_remembers_nothing() -> None:
    recent = RecentIds(0)
    event_id = uuid.uuid4()
    recent.remember(event_id)
    assert event_id not in recent
    assert len(recent) == 0
