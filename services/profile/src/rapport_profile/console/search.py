"""What the agent typed into the search box, read as the identifiers it could be."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum

from rapport_events.identity import IdentityKind

_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,25}$")


class SearchKind(StrEnum):
    AUTO = "auto"
    PHONE = "phone"
    EMAIL = "email"
    LOYALTY_ID = "loyalty_id"
    CUSTOMER_ID = "customer_id"
    PROFILE_ID = "profile_id"


def candidates(query: str, kind: SearchKind) -> list[IdentityKind | uuid.UUID]:
    """The look-ups to try, in order. A profile id is answered directly by the card.

    `auto` reads the query by its shape: an @ is an email, a UUID a profile id, digits and
    phone punctuation a phone number; anything else may be a loyalty or a customer number.
    """
    text = query.strip()
    if kind is SearchKind.PROFILE_ID or (kind is SearchKind.AUTO and _is_uuid(text)):
        return [uuid.UUID(text)] if _is_uuid(text) else []
    if kind is not SearchKind.AUTO:
        return [IdentityKind(kind.value)]
    if "@" in text:
        return [IdentityKind.EMAIL]
    if _PHONE.match(text) and sum(ch.isdigit() for ch in text) >= 7:
        # A long number may also be a loyalty card or a customer number.
        return [IdentityKind.PHONE, IdentityKind.LOYALTY_ID, IdentityKind.CUSTOMER_ID]
    return [IdentityKind.LOYALTY_ID, IdentityKind.CUSTOMER_ID]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
