"""What a fold or a refresh tells the rest of the system (the profile-changes contract)."""

from __future__ import annotations

from datetime import datetime

from rapport_events.changes import CardChanged
from rapport_profile.domain.profile import KeyFields, ProfileState

NOTHING_KNOWN = KeyFields(None, None, (), 0, None)


def card_changed(state: ProfileState, before: KeyFields, at: datetime) -> CardChanged | None:
    """A CardChanged message if a field other services act on changed, else None."""
    after = state.key_fields()
    if after == before:
        return None
    return CardChanged(
        profile_id=state.profile_id,
        changed_at=at,
        version=state.version,
        value_tier=after.value_tier,
        lifecycle_stage=after.lifecycle_stage,
        marketing_consent=dict(after.marketing_consent),
        open_complaints=after.open_complaints,
        country=after.country,
    )
