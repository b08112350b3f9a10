"""`settle_heap` in this process: what it leaves to the collector's thresholds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rapport_events.heap import YOUNG_GENERATION_THRESHOLD, settle_heap


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_the_young_generation_is_collected_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    settle_heap()
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("collector")
def test_a_higher_threshold_the_process_chose_is_kept() -> None:
    gc.set_threshold(100_000, 50, 20)  # as the profile's fold sets it
    settle_heap()
    assert gc.get_threshold() == (100_000, 50, 20)
