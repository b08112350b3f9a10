"""What the market reads keep (`store.reads._Expiring`): a value for its lifetime, and no
expired value for longer than another lifetime, however few were read."""

from __future__ import annotations

from rapport_recommender.store.reads import _Expiring


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_for_its_lifetime_only() -> None:
    clock = Clock()
    kept: _Expiring[str] = _Expiring(5, clock)
    kept.put("lamp", "neighbours")
    clock.now = 5.0
    assert kept.get("lamp") == "neighbours"
    clock.now = 5.1
    assert kept.get("lamp") is None


def test_expired_values_are_forgotten_within_another_lifetime() -> None:
    clock = Clock()
    kept: _Expiring[int] = _Expiring(5, clock)
    for sku in range(1000):
        kept.put(sku, sku)
    clock.now = 10.0
    kept.put("shade", 1)
    assert set(kept.held) == {"shade"}


def test_kept_for_ever_means_nothing_is_forgotten() -> None:
    clock = Clock()
    kept: _Expiring[int] = _Expiring(float("inf"), clock)
    kept.put("lamp", 1)
    clock.now = 1e9
    kept.put("shade", 2)
    assert kept.get("lamp") == 1
    assert set(kept.held) == {"lamp", "shade"}
