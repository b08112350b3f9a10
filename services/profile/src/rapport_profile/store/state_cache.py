"""Folded profiles kept in memory between batches, so that a profile folded again soon (the
common case: a customer's events come in bursts) is not read and decoded from its JSONB
document every time — the fold's largest cost per profile after event decoding.

Safety rests on the row, not on the cache: an entry is used only when the locked row still
has the version and creation time the entry was saved with. Every write of a profile's state
moves its version on (the fold, the score refresh); an erased profile that comes back is a new
row with a new creation time; so a stale entry (another consumer folded the profile, a batch
rolled back) is never used, it is only a miss. An entry is taken out while a batch uses it
(the batch mutates it) and put back only after that batch committed.

Privacy: an entry is personal data, so it must not outlive the profile's erasure. An erasure
by this process drops its entries at once (`handlers.erase_customer`); one by another
instance, or a merge there that emptied a profile cached here, is found by `revalidate_cache`
(`serve` runs it every `RAPPORT_STATE_CACHE_CHECK_S`): every entry whose row is gone, merged
away or moved on is dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from itertools import islice

from rapport_profile.domain.profile import ProfileState

Stamp = tuple[int, datetime]  # version, created_at: what a row must still show


class ProfileCache:
    def __init__(self, size: int) -> None:
        self.size = size
        # Insertion order is recency: an entry is removed when used and added back after.
        self._states: dict[uuid.UUID, ProfileState] = {}
        self.hits = 0
        self.misses = 0

    def stamps(self, profile_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Stamp]:
        """What the cache holds for these profiles, to compare with their rows."""
        return {
            profile_id: (state.version, state.created_at)
            for profile_id in profile_ids
            if (state := self._states.get(profile_id)) is not None
        }

    def take(self, profile_id: uuid.UUID, stamp: Stamp) -> ProfileState | None:
        """The entry for a row showing `stamp`, removed from the cache; None if there is none
        (a concurrent fold in this process took it) or it is stale."""
        state = self._states.pop(profile_id, None)
        if state is None or (state.version, state.created_at) != stamp:
            self.misses += 1
            return None
        self.hits += 1
        return state

    def forget(self, profile_ids: Iterable[uuid.UUID]) -> None:
        """Drop entries the rows showed to be stale (each one a miss)."""
        for profile_id in profile_ids:
            if self._states.pop(profile_id, None) is not None:
                self.misses += 1

    def drop(self, profile_ids: Iterable[uuid.UUID]) -> None:
        """Remove entries whatever their state (erased or merged-away profiles)."""
        for profile_id in profile_ids:
            self._states.pop(profile_id, None)

    def held(self) -> dict[uuid.UUID, Stamp]:
        """Every entry's stamp, to check against the rows."""
        return {profile_id: (s.version, s.created_at) for profile_id, s in self._states.items()}

    def keep(self, states: Iterable[ProfileState]) -> None:
        """Profiles as a committed batch left them."""
        for state in states:
            self._states.pop(state.profile_id, None)
            self._states[state.profile_id] = state
        # The oldest evicted in one pass: `next(iter(...))` per entry would walk again over
        # every slot the pops above left empty at the front of the dict (until it resizes),
        # a scan per evicted profile that took 5% of the fold's CPU.
        excess = len(self._states) - self.size
        for profile_id in list(islice(self._states, max(excess, 0))):
            del self._states[profile_id]

    def __len__(self) -> int:
        return len(self._states)
