"""A latency goal's verdict is given at the rate the goal is stated at, and only there."""

from __future__ import annotations

from bench.harness import GOAL_RATE, Result
from bench.scenarios import at_goal_rate


def test_at_the_goal_rate_the_figures_decide() -> None:
    assert at_goal_rate(GOAL_RATE, Result("offers", "p99 < 100 ms"), met=True) == "met"
    assert at_goal_rate(GOAL_RATE, Result("offers", "p99 < 100 ms"), met=False) == "not met"


def test_at_another_rate_there_is_no_verdict_and_the_notes_say_why() -> None:
    result = Result("offers", "p99 < 100 ms")
    assert at_goal_rate(GOAL_RATE // 4, result, met=True) == "n/a"
    assert result.notes == [f"at {GOAL_RATE // 4:,} ev/s, not the goal's {GOAL_RATE:,}: no verdict"]
