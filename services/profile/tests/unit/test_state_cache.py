"""The profile cache's bookkeeping: stale entries are misses, taking removes, size is bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from rapport_profile.domain.profile import ProfileState
from rapport_profile.store.state_cache import ProfileCache

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _state(version: int = 1) -> ProfileState:
    return ProfileState(uuid.uuid4(), created_at=NOW, version=version)


def test_an_entry_is_used_once_and_only_with_the_rows_stamp() -> None:
    cache = ProfileCache(10)
    fresh, stale = _state(5), _state(5)
    cache.keep([fresh, stale])
    assert cache.stamps([fresh.profile_id]) == {fresh.profile_id: (5, NOW)}
    assert cache.take(fresh.profile_id, (5, NOW)) is fresh
    assert cache.take(fresh.profile_id, (5, NOW)) is None  # taken: gone until kept again
    assert cache.take(stale.profile_id, (6, NOW)) is None  # the row moved on
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_least_recently_kept_entries_go_first() -> None:
    cache = ProfileCache(2)
    a, b, c = _state(), _state(), _state()
    cache.keep([a, b])
    cache.keep([a])  # a is recent again
    cache.keep([c])
    assert set(cache.stamps([a.profile_id, b.profile_id, c.profile_id])) == {
        a.profile_id,
        c.profile_id,
    }


def test_a_batch_larger_than_the_cache_leaves_its_latest_entries() -> None:
    cache = ProfileCache(3)
    old = _state()
    cache.keep([old])
    batch = [_state() for _ in range(5)]
    cache.keep(batch)
    held = cache.stamps([old.profile_id, *(s.profile_id for s in batch)])
    assert set(held) == {s.profile_id for s in batch[-3:]}


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = ProfileCache(0)
    cache.keep([_state(), _state()])
    assert len(cache) == 0
