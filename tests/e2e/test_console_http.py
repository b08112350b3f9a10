"""The console over plain HTTP: who may in, and what a forged form gets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from support.stack import Stack
from tests.e2e.console_support import form_token, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
async def browser_like(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar that does not follow redirects (we check where they go)."""
    async with httpx.AsyncClient(base_url=stack.profile, timeout=10) as client:
        yield client


async def test_without_a_session_every_page_sends_you_to_sign_in(
    browser_like: httpx.AsyncClient,
) -> None:
    for path in ("/console", f"/console/customers/{uuid.uuid4()}"):
        answer = await browser_like.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/console/signin"
    posted = await browser_like.post("/console/search", data={"query": "x"})
    assert posted.status_code == 303
    fragment = await browser_like.get(f"/console/customers/{uuid.uuid4()}/timeline")
    assert fragment.status_code == 401  # the page's script gets a status it can act on
    # The sign-in page and the assets need no session.
    assert (await browser_like.get("/console/signin")).status_code == 200
    css = await browser_like.get("/console/static/console.css")
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]


async def test_a_wrong_key_gets_a_message_and_no_session(
    browser_like: httpx.AsyncClient,
) -> None:
    answer = await sign_in(browser_like, "rk_not-a-real-key")
    assert answer.status_code == 401
    assert "That API key is not known" in answer.text
    assert "rapport_console" not in answer.cookies
    assert (await browser_like.get("/console")).status_code == 303


async def test_a_key_without_profiles_read_is_refused(
    stack: Stack, browser_like: httpx.AsyncClient
) -> None:
    answer = await sign_in(browser_like, stack.keys.offers)
    assert answer.status_code == 403
    assert "does not carry profiles:read" in answer.text
    assert (await browser_like.get("/console")).status_code == 303


async def test_signing_in_keeps_the_key_out_of_urls_pages_and_cookies(
    stack: Stack, browser_like: httpx.AsyncClient
) -> None:
    answer = await sign_in(browser_like, stack.keys.agent)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    set_cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=strict" in set_cookie or "SameSite=Strict" in set_cookie
    assert stack.keys.agent not in set_cookie  # sealed: the browser holds an opaque token
    home = await browser_like.get("/console")
    assert home.status_code == 200
    assert "agent-ada" in home.text
    assert stack.keys.agent not in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in home.headers["content-security-policy"]


async def test_a_tampered_session_cookie_is_no_session(
    stack: Stack, browser_like: httpx.AsyncClient
) -> None:
    await sign_in(browser_like, stack.keys.agent)
    sealed = browser_like.cookies["rapport_console"]
    browser_like.cookies.set("rapport_console", sealed[:-4] + "AAAA", path="/console")
    assert (await browser_like.get("/console")).status_code == 303


async def test_a_form_without_its_csrf_token_is_refused(
    stack: Stack, browser_like: httpx.AsyncClient
) -> None:
    await sign_in(browser_like, stack.keys.agent)
    for data in ({"query": "+447700900123"}, {"query": "x", "csrf_token": "forged"}):
        answer = await browser_like.post("/console/search", data=data)
        assert answer.status_code == 403
        assert "did not come from the console" in answer.text
    logged = await browser_like.post(
        f"/console/customers/{uuid.uuid4()}/calls", data={"outcome": "resolved"}
    )
    assert logged.status_code == 403
    # Sign-in itself is protected the same way: no posting a key from another site.
    forged = await browser_like.post(
        "/console/signin", data={"api_key": stack.keys.agent, "signin_token": "forged"}
    )
    assert forged.status_code == 403


async def test_an_unknown_customer_is_a_clear_no_customer_found(
    stack: Stack, browser_like: httpx.AsyncClient
) -> None:
    await sign_in(browser_like, stack.keys.agent)
    token = form_token((await browser_like.get("/console")).text)
    for query in (f"nobody-{uuid.uuid4().hex[:6]}@example.com", "+44 7700 900999", "LOY-NONE"):
        answer = await browser_like.post(
            "/console/search", data={"query": query, "csrf_token": token}
        )
        assert answer.status_code == 404, query
        assert "No customer found" in answer.text
    missing = await browser_like.get(f"/console/customers/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "No customer found" in missing.text


async def test_a_bad_identifier_names_the_problem(
    stack: Stack, browser_like: httpx.AsyncClient
) -> None:
    await sign_in(browser_like, stack.keys.agent)
    token = form_token((await browser_like.get("/console")).text)
    answer = await browser_like.post(
        "/console/search", data={"query": "not a phone", "kind": "phone", "csrf_token": token}
    )
    assert answer.status_code == 422
    assert "phone" in answer.text.lower()


async def test_signing_out_ends_the_session(stack: Stack, browser_like: httpx.AsyncClient) -> None:
    await sign_in(browser_like, stack.keys.agent)
    home = await browser_like.get("/console")
    out = await browser_like.post("/console/signout", data={"csrf_token": form_token(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/signin"
    assert (await browser_like.get("/console")).status_code == 303
