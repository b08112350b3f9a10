"""A batch of profile changes is applied in order, whatever is written at once: the newest
card of a run wins, a change after its profile's erasure in the same batch is ignored, and the
survivors are the ones re-ranked."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from rapport_events.changes import Erased, Merged
from rapport_events.db import Database
from rapport_recommender.handlers import fold
from services.recommender.tests.integration.test_offers_rules import (
    NOW,
    SETTINGS,
    card,
    email_hash,
    identified,
    new_customer,
)
from services.recommender.tests.integration.test_served_offers import marked

pytestmark = pytest.mark.integration


async def _cards(db: Database, *pids: uuid.UUID) -> dict[uuid.UUID, tuple[int, str | None]]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT profile_id, version, value_tier FROM cards WHERE profile_id = ANY(:p)"),
            {"p": list(pids)},
        )
        return {row.profile_id: (row.version, row.value_tier) for row in rows}


async def _marked(db: Database, *pids: uuid.UUID) -> set[uuid.UUID]:
    return {pid for pid in pids if await marked(db, pid)}


async def test_a_batch_of_changes_applies_in_order(fresh_db: Database) -> None:
    (kept_email, kept), (gone_email, gone), (old_email, old) = (new_customer() for _ in range(3))
    survivor = uuid.uuid4()
    await fold(
        fresh_db,
        SETTINGS,
        [],
        [
            identified(kept, kept_email),
            identified(gone, gone_email),
            identified(old, old_email),
            card(kept, version=3, value_tier="top"),
            card(kept, version=2, value_tier="standard"),  # older, later in the run: loses
            card(gone, version=1, value_tier="top"),
            Erased(
                profile_id=gone,
                changed_at=NOW,
                version=2,
                merged_ids=[],
                identifier_hashes=[email_hash(gone_email)],
            ),
            card(gone, version=3, value_tier="top"),  # after its erasure: ignored
            Merged(
                profile_id=survivor,
                changed_at=NOW,
                version=1,
                merged_ids=[old],
                identifier_hashes=[email_hash(old_email)],
            ),
            card(old, version=5, value_tier="top"),  # merged away: its survivor is re-ranked
        ],
    )
    cards = await _cards(fresh_db, kept, gone, old, survivor)
    assert cards[kept] == (3, "top")
    assert gone not in cards
    assert await _marked(fresh_db, kept, gone, old, survivor) == {kept, survivor}


async def _linked(db: Database, *hashes: str) -> dict[str, uuid.UUID]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT identifier_hash, profile_id FROM aliases WHERE identifier_hash = ANY(:h)"),
            {"h": list(hashes)},
        )
        return {row.identifier_hash: row.profile_id for row in rows}


async def test_identity_links_of_a_batch_keep_their_order_around_merges(
    fresh_db: Database,
) -> None:
    """Links are written a run at a time: the last link of an identifier in a run wins, and a
    merge after a link re-points it (the run is written before the merge)."""
    (email, first), (_, second), (old_email, old) = (new_customer() for _ in range(3))
    survivor = uuid.uuid4()
    await fold(
        fresh_db,
        SETTINGS,
        [],
        [
            identified(first, email),
            identified(second, email),  # the same identifier, later: it is second's now
            identified(old, old_email),
            Merged(
                profile_id=survivor,
                changed_at=NOW,
                version=1,
                merged_ids=[old],
                identifier_hashes=[email_hash(old_email)],
            ),
        ],
    )
    links = await _linked(fresh_db, email_hash(email), email_hash(old_email))
    assert links == {email_hash(email): second, email_hash(old_email): survivor}
