"""Which background lanes a process runs: `serve` beside `work` processes leaves them the
ordinary re-ranking (the pair merger beside it, and the popular items' reach order) and
keeps the at-once lane (deploy/k8s/base/recommender)."""

from __future__ import annotations

import pytest

from rapport_recommender.api.app import build_app
from rapport_recommender.settings import RecommenderSettings


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ["rerank", "merge", "reach", "rerank_at_once"]),
        ({"ordinary_lane_enabled": False}, ["rerank_at_once"]),
        ({"at_once_lane_enabled": False}, ["rerank", "merge", "reach"]),
        ({"background_enabled": False}, []),
    ],
)
def test_the_lanes_a_process_runs(overrides: dict[str, bool], expected: list[str]) -> None:
    settings = RecommenderSettings(consumer_enabled=False, **overrides)  # type: ignore[arg-type]
    app = build_app(settings)
    assert [worker.name for worker in app.state.workers] == expected


def test_niceness_is_a_priority_a_process_may_only_lower() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        RecommenderSettings(niceness=-5)
