"""The bench's statistics: pure functions, no services."""

from __future__ import annotations

import random

from bench.loadgen import percentile, percentile_spread


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0


def test_the_spread_of_a_p99_holds_it_and_narrows_with_more_probes() -> None:
    draw = random.Random(1)
    few = [draw.expovariate(1 / 50) for _ in range(100)]
    many = [draw.expovariate(1 / 50) for _ in range(3000)]
    low, high = percentile_spread(few, 0.99, seed=7)
    assert low <= percentile(sorted(few), 0.99) <= high
    low_many, high_many = percentile_spread(many, 0.99, seed=7)
    assert high_many - low_many < high - low


def test_identical_probes_leave_no_spread() -> None:
    assert percentile_spread([42.0] * 300, 0.99, seed=3) == (42.0, 42.0)
