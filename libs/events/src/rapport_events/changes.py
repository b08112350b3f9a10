"""What the profile service tells the rest of the system, on `rapport.profile-changes.v1`.

Keyed by the (surviving) profile id. Consumers must be idempotent: a change can arrive twice,
and `version` (the profile's change counter) lets them drop one older than what they hold.

- `identified`: these identifiers (as `identifier_hash`es) belong to this profile;
- `merged`: `merged_ids` were folded into `profile_id`, which now owns all `identifier_hashes`;
- `erased`: the person asked to be forgotten; drop every trace of the profile, its merged ids
  and these identifier hashes, and keep them dropped;
- `card_changed`: the parts of the card other services act on changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Change(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    profile_id: uuid.UUID
    changed_at: datetime
    version: int = Field(0, description="the profile's change counter when this was published")


class Identified(_Change):
    kind: Literal["identified"] = "identified"
    identifier_hashes: list[str]


class Merged(_Change):
    kind: Literal["merged"] = "merged"
    merged_ids: list[uuid.UUID]
    identifier_hashes: list[str]


class Erased(_Change):
    kind: Literal["erased"] = "erased"
    merged_ids: list[uuid.UUID] = Field(default_factory=list)
    identifier_hashes: list[str]


class CardChanged(_Change):
    kind: Literal["card_changed"] = "card_changed"
    value_tier: str | None = Field(None, examples=["top"])
    lifecycle_stage: str | None = Field(None, examples=["active"])
    # {"email": true, "sms": false, ...}: may this customer get marketing on that channel?
    marketing_consent: dict[str, bool] = Field(default_factory=dict)
    open_complaints: int = 0
    country: str | None = None


ProfileChange = Annotated[Identified | Merged | Erased | CardChanged, Field(discriminator="kind")]
PROFILE_CHANGE_ADAPTER: TypeAdapter[ProfileChange] = TypeAdapter(ProfileChange)


def encode_change(change: ProfileChange) -> bytes:
    return PROFILE_CHANGE_ADAPTER.dump_json(change)


def decode_change(value: bytes) -> ProfileChange:
    return PROFILE_CHANGE_ADAPTER.validate_json(value)
