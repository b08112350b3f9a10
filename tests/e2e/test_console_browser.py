"""The console in a real browser (headless Chromium) against the whole running system.

A customer seen on the web, in the store and on the phone calls in; the agent finds them by
phone number, resolves their complaint and offers them something.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.keys import ApiKeys
from support.servers import eventually
from support.stack import Stack
from tests.e2e.console_support import customer_story, seed

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium: run deploy/local/browser.sh", allow_module_level=True)

from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    """A signed-in agent at 1280×800."""
    context = await browser.new_context(
        base_url=stack.profile, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    await opened.goto("/console")  # no session yet: off to sign-in
    await expect(opened.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    await opened.get_by_label("API key").fill(stack.keys.agent)
    await opened.get_by_role("button", name="Sign in").click()
    await expect(opened.get_by_role("heading", name="Find a customer")).to_be_visible()
    yield opened
    await context.close()


async def _card(stack: Stack, **identifier: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=10) as client:
        found = await client.get(
            f"{stack.profile}/v1/customers/lookup",
            params=identifier,
            headers=ApiKeys.bearer(stack.keys.reader),
        )
    return found.json() if found.status_code == 200 else None


@pytest.fixture
async def customer(stack: Stack) -> dict[str, str]:
    """A fresh customer with a web order, a store purchase and an open complaint, folded."""
    ids, events = customer_story(uuid.uuid4().hex[:6])

    async def folded() -> dict[str, Any] | None:
        card = await _card(stack, phone=ids["phone"])
        ready = card and card["purchases"]["orders"] == 2 and card["open_complaints"]
        return card if ready else None

    await seed(stack, events)
    card = await eventually(folded, timeout=15)
    return {**ids, "profile_id": card["profile_id"]}


async def _find_by_phone(page: Page, phone: str) -> None:
    await page.get_by_label("Phone, email, loyalty card or customer number").fill(phone)
    await page.get_by_role("button", name="Find", exact=True).last.click()
    await expect(page.get_by_role("heading", name="Grace Hopper", exact=True)).to_be_visible()


async def test_search_by_phone_shows_every_channel_and_the_open_complaint(
    page: Page, customer: dict[str, str]
) -> None:
    await _find_by_phone(page, customer["phone_local"])  # typed as a caller says it
    complaints = page.get_by_role("region", name="1 open complaint")
    await expect(complaints).to_contain_text("Late delivery")
    await expect(complaints).to_contain_text("high")
    timeline = page.get_by_role("list", name="Interactions, newest first")
    await expect(timeline.get_by_text("Order completed", exact=True)).to_be_visible()
    await expect(timeline.get_by_text("Store purchase", exact=True)).to_be_visible()
    await expect(timeline.get_by_text("Complaint logged", exact=True)).to_be_visible()
    profile = page.get_by_role("region", name="Grace Hopper")
    await expect(profile).to_contain_text(customer["loyalty_id"])
    await expect(profile).to_contain_text("£60.50")  # 42.50 on the web + 18.00 in store
    # Filtering by channel asks the API again: only the store remains.
    await page.get_by_label("Channel").select_option("store")
    await expect(timeline.locator("li")).to_have_count(1)
    await expect(timeline).to_contain_text("Store purchase")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.get_by_label("Channel").select_option("")
    await expect(timeline.locator("li")).to_have_count(5)
    await page.screenshot(path=ARTIFACTS / "console-card.png", full_page=True)


async def test_logging_a_resolution_closes_the_complaint(
    page: Page, customer: dict[str, str], stack: Stack
) -> None:
    await _find_by_phone(page, customer["phone"])
    await expect(page.get_by_role("region", name="1 open complaint")).to_be_visible()
    form = page.get_by_role("region", name="Log this call")
    await form.get_by_label("Outcome").fill("refund issued")
    await form.get_by_label("Note").fill("apologised, refunded the delivery charge")
    await form.get_by_role("radio", name="Resolved").check()
    await form.get_by_role("button", name="Log call").click()
    # The page waits for the event to be folded, then shows the fresh card.
    await expect(page.get_by_role("status")).to_have_text("Saved: it is in the timeline.")
    await expect(page.get_by_role("region", name="1 open complaint")).to_have_count(0)
    timeline = page.get_by_role("list", name="Interactions, newest first")
    await expect(timeline.get_by_text("Case resolved", exact=True)).to_be_visible()
    await expect(timeline.get_by_text("Call ended", exact=True)).to_be_visible()
    # Logged with the console's key, attributed to the signed-in agent.
    card = await _card(stack, phone=customer["phone"])
    assert card is not None
    assert card["open_complaints"] == []


async def _offers_shown(page: Page) -> list[tuple[str, str]]:
    found: list[list[str]] = await page.locator("li.offer").evaluate_all(
        "items => items.map(item => [item.dataset.offerId,"
        " item.querySelector('.score').dataset.score])"
    )
    return [(offer_id, score) for offer_id, score in found]


async def _apology_first(stack: Stack, profile_id: str) -> list[dict[str, Any]] | None:
    """The customer's offers once the recommender puts service recovery first (else None)."""
    async with httpx.AsyncClient(timeout=10) as client:
        found = await client.get(
            f"{stack.recommender}/v1/customers/{profile_id}/offers",
            headers=ApiKeys.bearer(stack.keys.offers),
        )
    offers: list[dict[str, Any]] = found.json()["offers"] if found.status_code == 200 else []
    return offers if offers and offers[0]["kind"] == "service_recovery" else None


async def test_an_accepted_offer_reaches_the_timeline(
    page: Page, customer: dict[str, str], stack: Stack
) -> None:
    # The fixture waits for the profile's fold; the recommender folds the same stream in a
    # consumer of its own, and may not have the complaint yet (a loaded host: two offers).
    await eventually(lambda: _apology_first(stack, customer["profile_id"]), timeout=15)
    await _find_by_phone(page, customer["phone"])
    offers = page.get_by_role("region", name="Next-best offers")
    # An open complaint comes first: the only offer is the apology.
    await expect(offers.locator("li.offer")).to_have_count(1)
    await expect(offers).to_contain_text("Service recovery")
    await offers.get_by_role("button", name="Accepted").click()
    await expect(page.get_by_role("status")).to_have_text("Saved: it is in the timeline.")
    timeline = page.get_by_role("list", name="Interactions, newest first")
    await expect(timeline.get_by_text("Offer accepted", exact=True)).to_be_visible()
    await expect(timeline.locator("li.fresh")).to_contain_text("Offer accepted")


async def test_the_offers_move_on_once_the_apology_is_accepted_and_the_case_resolved(
    page: Page, customer: dict[str, str]
) -> None:
    await _find_by_phone(page, customer["phone"])
    offers = page.get_by_role("region", name="Next-best offers")
    before = await _offers_shown(page)
    assert [offer_id.split("-")[0] for offer_id, _ in before] == ["service_recovery"]
    await offers.get_by_role("button", name="Accepted").click()
    await expect(page.get_by_role("status")).to_have_text("Saved: it is in the timeline.")
    form = page.get_by_role("region", name="Log this call")
    await form.get_by_role("radio", name="Resolved").check()
    await form.get_by_role("button", name="Log call").click()
    await expect(page.get_by_role("status")).to_have_text("Saved: it is in the timeline.")

    # The recommender folds both answers on its own; the agent's next look shows new offers.
    async def moved_on() -> list[tuple[str, str]] | None:
        await page.reload()
        shown = await _offers_shown(page)
        return shown if shown != before else None

    assert await eventually(moved_on, timeout=10, interval=0.3)
