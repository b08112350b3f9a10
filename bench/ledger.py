"""A client that remembers what was acknowledged, and the check that nothing was lost.

The fault suite's invariant: every event that got a 2xx from ingest is in the profile store
exactly once and in the recommender's state exactly once. `Sender` posts events as a well-behaved
client does (retrying 503s and connection failures with the same event id, honouring a capped
Retry-After), and keeps the ledger; `count_in_stores` reads the services' databases read-only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.data import EventFactory
from bench.stack import Stack, read_only_query


@dataclass
class Ledger:
    sent: int = 0
    attempted: dict[str, str] = field(default_factory=dict)  # event_id -> customer_id
    acked: dict[str, str] = field(default_factory=dict)  # the subset answered 2xx
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # every answer seen, retries included
    gave_up: int = 0


@dataclass
class Sender:
    """Posts events one by one to the ingest `targets()` names, retrying as a client should."""

    targets: Callable[[], Sequence[str]]
    bearer: dict[str, str]
    ledger: Ledger = field(default_factory=Ledger)
    max_retry_wait: float = 1.0
    give_up_after: float = 60.0

    async def post(self, client: httpx.AsyncClient, event: dict[str, Any]) -> bool:
        self.ledger.sent += 1
        self.ledger.attempted[event["event_id"]] = event["identity"]["customer_id"]
        deadline = time.monotonic() + self.give_up_after
        attempt = 0
        while time.monotonic() < deadline:
            urls = self.targets()
            url = urls[attempt % len(urls)]
            attempt += 1
            wait = 0.2
            try:
                answer = await client.post(f"{url}/v1/events", json=event, headers=self.bearer)
                self.ledger.statuses[answer.status_code] = (
                    self.ledger.statuses.get(answer.status_code, 0) + 1
                )
                if answer.is_success:
                    self.ledger.acked[event["event_id"]] = event["identity"]["customer_id"]
                    return True
                if answer.status_code != 503:
                    return False  # a 4xx is the client's fault: not retried, not counted
                wait = min(float(answer.headers.get("Retry-After", "1")), self.max_retry_wait)
            except httpx.TransportError:
                self.ledger.statuses[0] = self.ledger.statuses.get(0, 0) + 1
            self.ledger.retries += 1
            await asyncio.sleep(wait)
        self.ledger.gave_up += 1
        return False

    async def pump(
        self,
        factory: EventFactory,
        *,
        rate: float,
        duration: float,
        concurrency: int = 32,
        stop: asyncio.Event | None = None,
    ) -> Ledger:
        """Post about `rate` events/s for `duration` s (or until `stop`), at most `concurrency`
        at a time; waits for every event's retries to settle."""
        gate = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[bool]] = set()
        async with httpx.AsyncClient(timeout=10) as client:

            async def one(event: dict[str, Any]) -> bool:
                try:
                    return await self.post(client, event)
                finally:
                    gate.release()

            start = time.monotonic()
            count = 0
            while time.monotonic() - start < duration and not (stop and stop.is_set()):
                due = start + count / rate
                if (delay := due - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                # Back-pressure: when the service slows down, so does the client (a queue of
                # unsent events would only drain after the scenario is over).
                await gate.acquire()
                task = asyncio.create_task(one(factory.event()))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                count += 1
            if tasks:
                await asyncio.gather(*tasks)
        return self.ledger


@dataclass(frozen=True)
class StoreCount:
    found: int
    duplicates: int
    missing: int


async def _count(url: str, table: str, event_ids: list[str]) -> StoreCount:
    rows = await read_only_query(
        url,
        f"SELECT event_id::text AS id, count(*) AS n FROM {table} "  # noqa: S608 - fixed names
        "WHERE event_id = ANY($1::uuid[]) GROUP BY event_id",
        event_ids,
    )
    found = {row["id"]: row["n"] for row in rows}
    return StoreCount(
        found=len(found),
        duplicates=sum(n - 1 for n in found.values()),
        missing=len(set(event_ids) - set(found)),
    )


async def count_in_stores(stack: Stack, event_ids: list[str]) -> dict[str, StoreCount]:
    """Where the acknowledged events are: the profile's timeline rows, the recommender's
    processed-events table (its exactly-once record)."""
    return {
        "profile": await _count(stack.databases["profile"], "interactions", event_ids),
        "recommender": await _count(stack.databases["recommender"], "processed_events", event_ids),
    }


async def settle(
    stack: Stack, event_ids: list[str], *, within: float = 120
) -> dict[str, StoreCount]:
    """Wait until both stores hold every acknowledged event (or time runs out); the counts."""
    deadline = time.monotonic() + within
    while True:
        counts = await count_in_stores(stack, event_ids)
        done = all(count.missing == 0 for count in counts.values())
        if done or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


async def timeline_counts(
    stack: Stack, ledger: Ledger, *, customers: int = 10
) -> dict[str, tuple[int, int, int]]:
    """Through the public API: for the busiest customers, (acknowledged, timeline entries,
    attempted). An event answered 503 may still have landed, so acknowledged <= entries <=
    attempted is the invariant seen from outside."""
    per_customer: dict[str, int] = {}
    for customer in ledger.acked.values():
        per_customer[customer] = per_customer.get(customer, 0) + 1
    tried: dict[str, int] = {}
    for customer in ledger.attempted.values():
        tried[customer] = tried.get(customer, 0) + 1
    busiest = sorted(per_customer, key=lambda c: -per_customer[c])[:customers]
    bearer = stack.admin.bearer
    result: dict[str, tuple[int, int, int]] = {}
    async with httpx.AsyncClient(base_url=stack.url("profile"), timeout=10) as client:
        for customer in busiest:
            found = await client.get(
                "/v1/customers/lookup", params={"customer_id": customer}, headers=bearer
            )
            if found.status_code != 200:
                result[customer] = (per_customer[customer], 0, tried[customer])
                continue
            profile_id = found.json()["profile_id"]
            entries, cursor = 0, None
            for _ in range(1000):
                params: dict[str, Any] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = await client.get(
                    f"/v1/customers/{profile_id}/timeline", params=params, headers=bearer
                )
                page.raise_for_status()
                body = page.json()
                entries += len(body["items"])
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            result[customer] = (per_customer[customer], entries, tried[customer])
    return result
