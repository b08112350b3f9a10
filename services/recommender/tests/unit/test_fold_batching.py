"""The fold's lean paths give what the plain ones give: unexpanded baskets expand to exactly
`similarity.new_pairs`, and the lean decoder reads an event as full validation does."""

from __future__ import annotations

import random

import orjson
import pytest
from pydantic import ValidationError

from rapport_events.codec import decode_event, encode_event
from rapport_events.envelope import EVENT_TYPES, parse_event
from rapport_ingest.api.examples import example_event
from rapport_recommender.consumer import lean_touchpoint
from rapport_recommender.domain.facts import READS_PROPERTIES, Touchpoint, facts_of, touchpoint_of
from rapport_recommender.domain.fold import co_baskets, expand
from rapport_recommender.domain.similarity import new_pairs


def test_expanded_baskets_are_exactly_the_new_pairs() -> None:
    rng = random.Random(3)
    skus = [f"S{i}" for i in range(40)]
    for _ in range(500):
        history = rng.sample(skus, rng.randint(0, 25))
        baskets = [rng.choices(skus, k=rng.randint(1, 8)) for _ in range(rng.randint(1, 5))]
        window = rng.randint(1, 15)
        expected = {
            ("bought", a, b): n for (a, b), n in new_pairs(history, baskets, window).items()
        }
        assert expand(co_baskets("bought", history, baskets, window)) == expected


def test_a_basket_that_pairs_nothing_is_not_recorded() -> None:
    """A first lone item has nothing to pair with: no pending batch for the merger, which the
    re-ranker would wait for."""
    assert co_baskets("bought", [], [["LAMP"]], window=15) == []
    assert co_baskets("bought", [], [["LAMP", "LAMP"]], window=15) == []
    assert expand(co_baskets("bought", [], [["LAMP"], ["SHADE"]], window=15)) == {
        ("bought", "SHADE", "LAMP"): 1,
        ("bought", "LAMP", "SHADE"): 1,
    }


def _order(**identity: str) -> bytes:
    return encode_event(
        parse_event(
            {
                "type": "order_completed",
                "channel": "web",
                "occurred_at": "2026-05-03T10:00:00+02:00",
                "identity": identity,
                "context": {"country": "fr"},
                "properties": {
                    "order_id": "o-1",
                    "items": [
                        {"sku": " A1 ", "name": "Lamp", "quantity": 2, "price": 3.5},
                        {"sku": "B2", "quantity": 1, "price": 1.0},
                    ],
                    "total": 8.0,
                    "currency": "GBP",
                },
            }
        )
    )


def assert_read_as_validation_does(value: bytes) -> None:
    lean = lean_touchpoint(value)
    assert isinstance(lean, Touchpoint), "decoded leanly"
    full = touchpoint_of(decode_event(value))
    assert (lean.event_id, lean.type, lean.subject, lean.at, lean.country) == (
        full.event_id,
        full.type,
        full.subject,
        full.at,
        full.country,
    )
    assert facts_of([lean]) == facts_of([full])


@pytest.mark.parametrize(
    "identity",
    [
        {"email": "Ada@Example.com"},
        {"phone": "07700 900123", "anonymous_id": "anon-1"},
        {"customer_id": " C-1 ", "email": "ada@example.com"},
    ],
)
def test_lean_decoding_reads_an_order_as_validation_does(identity: dict[str, str]) -> None:
    value = _order(**identity)
    assert_read_as_validation_does(value)


def _as_validated(kind: str, **changes: object) -> bytes:
    """The contract's example of `kind`, as it lands on the topic (validated by ingest)."""
    return encode_event(parse_event({**example_event(kind), **changes}))


@pytest.mark.parametrize(
    "kind", [*sorted(set(EVENT_TYPES) - READS_PROPERTIES), "cart_updated", "store_purchase"]
)
def test_lean_decoding_reads_any_kind_it_takes_as_validation_does(kind: str) -> None:
    value = _as_validated(kind, context={"country": " gb "})
    assert_read_as_validation_does(value)


def test_an_emptied_cart_is_read_leanly_and_a_view_of_nobody_is_refused() -> None:
    assert_read_as_validation_does(
        _as_validated("cart_updated", properties={"cart_id": "c-1", "items": []})
    )
    nobody = orjson.loads(_as_validated("page_viewed"))
    nobody["identity"] = {}
    with pytest.raises(ValidationError):  # full validation: a dead letter, as before
        lean_touchpoint(orjson.dumps(nobody))


def test_other_events_and_bad_ones_go_through_full_validation() -> None:
    resolved = encode_event(
        parse_event(
            {
                "type": "case_resolved",
                "channel": "call_center",
                "occurred_at": "2026-05-03T10:00:00Z",
                "identity": {"email": "ada@example.com"},
                "properties": {"case_id": "case-1"},
            }
        )
    )
    assert not isinstance(lean_touchpoint(resolved), Touchpoint)
    bad = _order(email="ada@example.com").replace(b'"quantity":2', b'"quantity":-2')
    with pytest.raises(ValidationError):
        lean_touchpoint(bad)
    no_id = _order(email="ada@example.com").replace(b'"email":"ada@example.com"', b'"email":""')
    with pytest.raises(ValidationError):
        lean_touchpoint(no_id)
