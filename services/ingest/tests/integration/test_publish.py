"""What ingest publishes, read back from the real topic with a plain consumer: key, headers,
body stamps, IP truncation, batches, webhooks, idempotent re-posts, metrics."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rapport_events.envelope import EVENT_TYPES, URGENT_TYPES
from rapport_events.settings import KafkaSettings
from rapport_ingest.api.examples import example_event
from support.keys import ApiKeys

pytestmark = pytest.mark.integration


def key_of(kind: str, value: str) -> bytes:
    """The README's rule, computed independently: sha256 of "<kind>:<normalised value>"."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest().encode()


def fresh(kind: str = "order_completed", **identity: str) -> dict[str, Any]:
    event = example_event(kind)
    event["event_id"] = str(uuid.uuid4())
    if identity:
        event["identity"] = identity
    return event


async def test_one_event_lands_on_the_topic_stamped_keyed_and_without_a_clear_ip(
    ingest: str, keys: ApiKeys, read_back: Any, http: httpx.AsyncClient
) -> None:
    event = fresh()  # every identity field set: customer_id is the strongest
    event["sent_at"] = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()  # clock 3 min fast
    before = datetime.now(UTC)
    answer = await http.post(f"{ingest}/v1/events", json=event, headers=keys.bearer(keys.writer))
    after = datetime.now(UTC)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"event_id": event["event_id"], "status": "accepted"}

    [record] = (await read_back([event["event_id"]]))[event["event_id"]]
    assert record["key"] == key_of("customer_id", "C-100234")
    assert record["headers"] == {
        "event-id": event["event_id"].encode(),
        "event-type": b"order_completed",
        "source": b"writer",
    }
    body = record["value"]
    received_at = datetime.fromisoformat(body["received_at"])
    assert before <= received_at <= after
    # occurred_at was read on a clock 3 minutes fast: the corrected time is 3 minutes earlier.
    skew = datetime.fromisoformat(body["occurred_at"]) - datetime.fromisoformat(body["timestamp"])
    assert timedelta(minutes=2, seconds=55) < skew < timedelta(minutes=3, seconds=5)
    assert body["context"]["ip"] == "203.0.113.0"
    assert "203.0.113.77" not in str(record)
    assert body["identity"]["phone"] == "+447700900123"
    assert body["properties"]["total"] == 8.6


@pytest.mark.parametrize(
    ("identity", "rule"),
    [
        ({"loyalty_id": "LOY-1", "email": "A@Example.com"}, ("loyalty_id", "LOY-1")),
        ({"email": " Ada@Example.COM ", "phone": "07700 900123"}, ("email", "ada@example.com")),
        ({"phone": "07700 900123", "anonymous_id": "anon-1"}, ("phone", "+447700900123")),
        ({"anonymous_id": "anon-1"}, ("anonymous_id", "anon-1")),
    ],
)
async def test_the_message_key_is_the_hash_of_the_strongest_identifier(
    ingest: str,
    keys: ApiKeys,
    read_back: Any,
    http: httpx.AsyncClient,
    identity: dict[str, str],
    rule: tuple[str, str],
) -> None:
    event = fresh("page_viewed", **identity)
    answer = await http.post(f"{ingest}/v1/events", json=event, headers=keys.bearer(keys.writer))
    assert answer.status_code == 202, answer.text
    [record] = (await read_back([event["event_id"]]))[event["event_id"]]
    assert record["key"] == key_of(*rule)


async def test_a_batch_publishes_the_valid_events_and_lists_the_invalid_ones(
    ingest: str,
    keys: ApiKeys,
    read_back: Any,
    http: httpx.AsyncClient,
    kafka_settings: KafkaSettings,
) -> None:
    events = [fresh(kind) for kind in EVENT_TYPES]
    broken = fresh("order_completed")
    del broken["properties"]["total"]
    no_identity = fresh("page_viewed")
    no_identity["identity"] = {}
    posted = [*events, broken, no_identity]
    answer = await http.post(
        f"{ingest}/v1/events/batch", json={"events": posted}, headers=keys.bearer(keys.writer)
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["accepted"] == [
        {"index": i, "event_id": e["event_id"]} for i, e in enumerate(events)
    ]
    assert body["rejected"] == [
        {"index": len(events), "field": "properties.total", "reason": "Field required"},
        {
            "index": len(events) + 1,
            "field": "identity",
            "reason": "at least one identity field is required "
            "(customer_id, loyalty_id, email, phone, anonymous_id)",
        },
    ]
    assert body["message"] == f"{len(events)} accepted, 2 rejected"
    found = await read_back([e["event_id"] for e in posted])
    assert sorted(found) == sorted(e["event_id"] for e in events)
    for event in events:
        [record] = found[event["event_id"]]
        assert record["value"]["type"] == event["type"]
        assert record["key"] == key_of("customer_id", "C-100234")
        assert record["value"]["received_at"]
    # Complaints and consents are copied to the urgent topic, as they are on the touchpoints.
    copied = await read_back(
        [e["event_id"] for e in posted], kafka_settings.topics.touchpoints_urgent
    )
    assert sorted(record["value"]["type"] for [record] in copied.values()) == sorted(URGENT_TYPES)
    for event_id, [copy] in copied.items():
        assert copy == found[event_id][0]


async def test_a_batch_with_no_valid_event_is_422_and_publishes_nothing(
    ingest: str, keys: ApiKeys, read_back: Any, http: httpx.AsyncClient
) -> None:
    bad = fresh()
    bad["channel"] = "carrier-pigeon"
    answer = await http.post(
        f"{ingest}/v1/events/batch", json={"events": [bad]}, headers=keys.bearer(keys.writer)
    )
    assert answer.status_code == 422
    assert answer.json()["accepted"] == []
    assert answer.json()["rejected"][0]["field"] == "channel"
    assert await read_back([bad["event_id"]]) == {}


async def test_channel_limits_apply_per_event_in_a_batch(
    ingest: str, keys: ApiKeys, read_back: Any, http: httpx.AsyncClient
) -> None:
    store, web = fresh("store_visited"), fresh("page_viewed")
    answer = await http.post(
        f"{ingest}/v1/events/batch",
        json={"events": [store, web]},
        headers=keys.bearer(keys.store_writer),
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["rejected"] == [
        {
            "index": 1,
            "field": "channel",
            "reason": "this API key may not write events on the web channel",
        }
    ]
    found = await read_back([store["event_id"], web["event_id"]])
    assert list(found) == [store["event_id"]]
    assert found[store["event_id"]][0]["headers"]["source"] == b"store-writer"


async def test_a_reposted_event_is_accepted_again_and_published_once(
    ingest: str, keys: ApiKeys, read_back: Any, http: httpx.AsyncClient
) -> None:
    event = fresh()
    for _ in range(3):
        answer = await http.post(
            f"{ingest}/v1/events", json=event, headers=keys.bearer(keys.writer)
        )
        assert answer.status_code == 202
        assert answer.json()["event_id"] == event["event_id"]
    twice = fresh("cart_updated")
    answer = await http.post(
        f"{ingest}/v1/events/batch",
        json={"events": [twice, twice]},
        headers=keys.bearer(keys.writer),
    )
    assert [item["index"] for item in answer.json()["accepted"]] == [0, 1]
    found = await read_back([event["event_id"], twice["event_id"]])
    assert len(found[event["event_id"]]) == 1
    assert len(found[twice["event_id"]]) == 1


async def test_an_event_without_an_id_gets_one(
    ingest: str, keys: ApiKeys, read_back: Any, http: httpx.AsyncClient
) -> None:
    event = fresh()
    del event["event_id"]
    answer = await http.post(f"{ingest}/v1/events", json=event, headers=keys.bearer(keys.writer))
    assert answer.status_code == 202
    event_id = str(uuid.UUID(answer.json()["event_id"]))
    assert event_id in await read_back([event_id])


async def test_the_esp_webhook_maps_sendgrid_events_and_retries_count_once(
    ingest: str, keys: ApiKeys, read_back: Any, http: httpx.AsyncClient
) -> None:
    now = int(datetime.now(UTC).timestamp())
    run = uuid.uuid4().hex[:8]
    email = f"esp-{run}@example.com"
    hook = [
        {"email": email, "timestamp": now, "event": "open", "sg_event_id": f"{run}-1",
         "sg_message_id": "m-1", "ip": "2001:db8:abcd:12::1"},
        {"email": email, "timestamp": now, "event": "click", "sg_event_id": f"{run}-2",
         "sg_message_id": "m-1", "url": "https://shop.example.com/x"},
        {"email": email, "timestamp": now, "event": "bounce", "type": "blocked",
         "sg_event_id": f"{run}-3", "sg_message_id": "m-1"},
        {"email": email, "timestamp": now, "event": "unsubscribe", "sg_event_id": f"{run}-4"},
        {"email": email, "timestamp": now, "event": "processed", "sg_event_id": f"{run}-5"},
        {"email": email, "timestamp": now, "event": "click", "sg_event_id": f"{run}-6",
         "sg_message_id": "m-1"},
    ]  # fmt: skip
    first = await http.post(
        f"{ingest}/v1/webhooks/esp", json=hook, headers=keys.bearer(keys.writer)
    )
    assert first.status_code == 202, first.text
    body = first.json()
    assert [item["index"] for item in body["accepted"]] == [0, 1, 2, 3]
    assert body["ignored"] == [4]
    assert body["rejected"] == [{"index": 5, "field": "properties.url", "reason": "Field required"}]
    again = await http.post(
        f"{ingest}/v1/webhooks/esp", json=hook, headers=keys.bearer(keys.writer)
    )
    assert again.json()["accepted"] == body["accepted"]  # same ids: downstream dedupes
    ids = [item["event_id"] for item in body["accepted"]]
    found = await read_back(ids)
    types = [found[i][0]["value"]["type"] for i in ids]
    assert types == ["email_opened", "email_clicked", "email_bounced", "unsubscribed"]
    assert found[ids[0]][0]["value"]["context"]["ip"] == "2001:db8:abcd::"
    assert found[ids[2]][0]["value"]["properties"]["bounce_type"] == "soft"
    assert all(len(found[i]) == 1 for i in ids)
    assert found[ids[0]][0]["key"] == key_of("email", email)


async def test_metrics_count_accepted_and_rejected_events_by_type_and_reason(
    ingest: str, keys: ApiKeys, http: httpx.AsyncClient
) -> None:
    await http.post(f"{ingest}/v1/events", json=fresh(), headers=keys.bearer(keys.writer))
    await http.post(
        f"{ingest}/v1/events", json={"type": "teleported"}, headers=keys.bearer(keys.writer)
    )
    text = (await http.get(f"{ingest}/metrics")).text
    assert 'rapport_ingest_events_accepted_total{type="order_completed"}' in text
    assert 'rapport_ingest_events_rejected_total{reason="unknown_type",type="unknown"}' in text
    assert "rapport_ingest_publish_seconds_bucket" in text
    assert "rapport_http_requests_in_flight" in text
    assert "teleported" not in text  # sender-chosen strings never become label values
