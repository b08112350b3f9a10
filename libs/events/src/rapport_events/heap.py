"""Keeping Python's cyclic garbage collector off what a long-running process holds for good."""

from __future__ import annotations

import gc

# Python collects its youngest generation every 700 new container objects, and the oldest every
# 100 such collections (once it has grown by a quarter): under load, a full collection every
# few seconds (ingest's, counted with gc.callbacks), over whatever the process has built since
# it started, its caches included. At 10,000 a young collection still took ~0.15 ms in ingest,
# and full ones come a fourteenth as often; RSS did not move (bench --only freshness offers
# --scale 0.05, two runs each: event -> changed offer p99 728 and 1,044 ms -> 333 and 396 ms,
# freshness p99 83 and 91 -> 64 and 69 ms; peaks within 3 MB).
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Leave every object alive now out of the cyclic collector's full collections, and
    collect the young generation less often (`YOUNG_GENERATION_THRESHOLD`).

    A full collection walks every tracked object of the oldest generation. In a started service
    that is ~120,000 objects (its modules, the app, pydantic's validators) that live as long as
    the process; under load one ran every few seconds and took ~90 ms of ingest's time on this
    machine, a pause that every request in flight waited out (ingest's single events at
    2,000 req/s, two runs each: p99 92 and 103 ms, 23 and 32 ms with them frozen); in the
    profile service, walking them again was a tenth of a card read's CPU. A load generator's
    prepared requests and a benchmark's stack are the same kind of thing.

    Call it once the process is set up. Objects made later are collected as before, and
    reference counting still frees a frozen object that is dropped (only a frozen cycle
    stays). A higher young threshold the process chose for itself is kept (the profile's
    fold sets its own, `rapport_profile.consumer.FOLD_GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GENERATION_THRESHOLD), *older)
