"""A bounded memory of the event ids this process has just published.

Not the idempotency guarantee — that is the consumers' dedupe by `event_id`, inside their
database transaction, which holds across restarts and replicas. This only spares Kafka and the
consumers the common case of a sender retrying a request whose answer it lost.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict


class RecentIds:
    """Least-recently-seen ids are forgotten first; capacity 0 disables it."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[uuid.UUID, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)  # type: ignore[arg-type]
            return True
        return False

    def __len__(self) -> int:
        return len(self._ids)

    def remember(self, event_id: uuid.UUID) -> None:
        if self._capacity <= 0:
            return
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
