"""The background worker's pace: back to back while there is work, resting when given only a
share of the time (a fold catching up), and stopped promptly either way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rapport_recommender.background import Worker, working

STEP_SECONDS = 0.02


async def steps_within_window(share: float | Callable[[], float], window: float = 0.5) -> int:
    """Steps a worker with endless work takes in the window, woken all the while as a busy
    fold wakes it after every batch."""
    steps = 0

    async def step() -> int:
        nonlocal steps
        steps += 1
        await asyncio.sleep(STEP_SECONDS)
        return 1

    worker = Worker(
        "test", step, poll_seconds=60, share=share if callable(share) else lambda: share
    )
    async with working([worker], grace_seconds=5):
        until = time.monotonic() + window
        while time.monotonic() < until:
            worker.wake()
            await asyncio.sleep(0.01)
    return steps


async def test_a_worker_with_the_whole_time_works_back_to_back() -> None:
    # 25 steps fit in the window; a loaded machine may take fewer, never as few as resting.
    assert await steps_within_window(share=1.0) >= 5


async def test_a_worker_given_a_share_rests_between_steps_and_wakes_do_not_cut_it_short() -> None:
    # At a thousandth of the time a 20 ms step is followed by a 20 s rest.
    assert await steps_within_window(share=0.001) == 1


async def test_a_resting_worker_stops_at_once() -> None:
    began = time.monotonic()
    await steps_within_window(share=0.001)
    # The window, then the stop: not the 20 s rest (nor the 5 s grace, which would log).
    assert time.monotonic() - began < 3


async def test_a_rest_ends_once_the_worker_has_the_whole_time_back() -> None:
    began = time.monotonic()

    def share() -> float:  # a fold catching up for the first 0.3 s, then caught up
        return 0.001 if time.monotonic() - began < 0.3 else 1.0

    # The first step's 20 s rest ends at the next look (within a second): steps resume.
    assert await steps_within_window(share, window=2.5) >= 5
