"""The console's pages: sign in, search, the customer card, logging the call.

Server-rendered; the only script pages the timeline and waits for a logged call to show. Every
identifier the agent types travels in a POST body, never in a URL: URLs end up in browser
history and proxy logs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from rapport_events.auth import Principal, Scope
from rapport_events.envelope import now_utc
from rapport_events.identity import IdentityKind
from rapport_profile.console import present
from rapport_profile.console.access import (
    SIGNIN_PATH,
    Agent,
    AgentDep,
    Console,
    ConsoleDep,
    FetchAgentDep,
    admit,
    set_session_cookie,
)
from rapport_profile.console.clients import (
    BadQuery,
    Erased,
    LookupErased,
    ProfileApi,
    Refused,
    ServiceTrouble,
    fetch_offers,
    post_event,
)
from rapport_profile.console.events import (
    CallLog,
    ComplaintAction,
    InvalidForm,
    call_events,
    offer_event,
    strongest_identifier,
)
from rapport_profile.console.search import SearchKind, candidates
from rapport_profile.console.session import COOKIE, SIGNIN_COOKIE, Session

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(
    label=present.label,
    identity_label=present.identity_label,
    when=present.when,
    day=present.day,
    money=present.money,
)

# Pages show personal data: never cached, never framed, scripts and styles only our own.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

Csrf = Annotated[str | None, Form(alias="csrf_token")]


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    agent: Agent | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "agent": agent,
        "csrf_token": agent.session.csrf_token if agent else None,
        "channels": present.CHANNELS,
        **context,
    }
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=SECURITY_HEADERS
    )


def _csrf_refused(request: Request, agent: Agent | None) -> HTMLResponse:
    return page(
        request,
        "message.html",
        {
            "title": "Form expired",
            "message": "This form has expired or did not come from the console. "
            "Go back, reload the page and try again.",
        },
        agent=agent,
        status_code=status.HTTP_403_FORBIDDEN,
    )


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# --- signing in and out ----------------------------------------------------------------------


def _signin_page(
    request: Request, *, problem: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "signin.html",
        {"signin_token": token, "problem": problem},
        status_code=status_code,
    )
    response.set_cookie(
        SIGNIN_COOKIE, token, max_age=3600, path="/console", httponly=True, samesite="strict"
    )
    return response


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request) -> HTMLResponse:
    return _signin_page(request)


@router.post("/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    console: ConsoleDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    signin_token: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    if not expected or not secrets.compare_digest(expected, signin_token):
        return _signin_page(
            request,
            problem="The sign-in form had expired. Please try again.",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    if not api_key.strip():
        return _signin_page(request, problem="Enter your API key.", status_code=422)
    admitted = admit(request.app.state.key_ring, api_key)
    if not isinstance(admitted, Principal):
        refused = "not known" in admitted
        log.info("console sign-in refused", extra={"reason": "unknown" if refused else "scope"})
        return _signin_page(request, problem=admitted, status_code=401 if refused else 403)
    log.info("console sign-in", extra={"agent": admitted.name})
    response = _see("/console")
    set_session_cookie(response, request, console, Session.start(api_key.strip()))
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


@router.post("/signout")
async def signout(request: Request, agent: AgentDep, csrf_token: Csrf = None) -> Response:
    if not agent.session.csrf_ok(csrf_token):
        return _csrf_refused(request, agent)
    log.info("console sign-out", extra={"agent": agent.name})
    response = _see(SIGNIN_PATH)
    response.delete_cookie(COOKIE, path="/console")
    return response


# --- search ------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def home(request: Request, agent: AgentDep) -> HTMLResponse:
    return page(request, "search.html", {"kinds": list(SearchKind)}, agent=agent)


@router.post("/search", response_class=HTMLResponse)
async def search(
    request: Request,
    agent: AgentDep,
    console: ConsoleDep,
    query: Annotated[str, Form(max_length=320)] = "",
    kind: Annotated[SearchKind, Form()] = SearchKind.AUTO,
    csrf_token: Csrf = None,
) -> Response:
    if not agent.session.csrf_ok(csrf_token):
        return _csrf_refused(request, agent)

    def again(problem: str, status_code: int, erased_at: str | None = None) -> HTMLResponse:
        context = {
            "kinds": list(SearchKind),
            "query": query,
            "kind": kind,
            "problem": problem,
            "erased_at": erased_at,
        }
        return page(request, "search.html", context, agent=agent, status_code=status_code)

    tries = candidates(query, kind) if query.strip() else []
    try:
        if not tries:
            raise BadQuery(
                "That is not a profile id (a UUID)."
                if query.strip()
                else "Type a phone number, email, loyalty card or customer number."
            )
        found = await _resolve(request, agent, console, query.strip(), tries)
    except LookupErased as erased:
        return again("", 410, erased_at=erased.erased.erased_at or "an earlier date")
    except BadQuery as error:
        return again(str(error), 422)
    except ServiceTrouble as trouble:
        return again(trouble.message, 503)
    if found is None:
        return again("No customer found with that identifier.", 404)
    return _see(f"/console/customers/{found}")


async def _resolve(
    request: Request,
    agent: Agent,
    console: Console,
    query: str,
    tries: list[IdentityKind | uuid.UUID],
) -> uuid.UUID | None:
    """The first candidate reading of the query that names a customer."""
    async with ProfileApi(request.app, agent.api_key, console.settings.timeout_seconds) as api:
        for candidate in tries:
            if isinstance(candidate, uuid.UUID):
                return candidate
            try:
                found = await api.lookup(candidate, query)
            except BadQuery:
                if len(tries) == 1:
                    raise
                continue  # not a valid phone number, say: maybe a loyalty number
            if found is not None:
                return found
    return None


# --- the card ----------------------------------------------------------------------------------


async def _offers(console: Console, agent: Agent, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    if Scope.OFFERS_READ not in agent.principal.scopes:
        raise Refused(f"Offers: your key does not carry {Scope.OFFERS_READ}")
    return await fetch_offers(console.settings, agent.api_key, profile_id)


async def _card_page(
    request: Request,
    agent: Agent,
    console: Console,
    profile_id: uuid.UUID,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    async with ProfileApi(request.app, agent.api_key, console.settings.timeout_seconds) as api:
        try:
            card = await api.card(profile_id)
        except ServiceTrouble as trouble:
            return page(
                request,
                "message.html",
                {"title": "Customer card unavailable", "message": trouble.message},
                agent=agent,
                status_code=503,
            )
        if card is None:
            return page(
                request,
                "message.html",
                {"title": "No customer found", "message": "No customer has this profile id."},
                agent=agent,
                status_code=404,
            )
        if isinstance(card, Erased):
            return page(request, "erased.html", {"erased_at": card.erased_at}, agent=agent)
        survivor = str(card.get("profile_id") or profile_id)
        if survivor != str(profile_id):
            return _see(f"/console/customers/{survivor}?merged=1")
        view = present.card_view(card)
        timeline_task = api.timeline(profile_id, cursor=None, channel=None, type_=None)
        offers_task = _offers(console, agent, profile_id)
        timeline, offers = await asyncio.gather(timeline_task, offers_task, return_exceptions=True)
    context: dict[str, Any] = {
        "card": view,
        "raw": card,
        "notice": notice,
        "problem": problem,
        "merged": request.query_params.get("merged") == "1",
        "pending": request.query_params.get("logged"),
        "event_types": present.EVENT_TYPES,
    }
    if isinstance(timeline, BaseException):
        context["timeline_problem"] = _trouble_text(timeline)
    else:
        context["timeline"] = timeline or {"items": [], "next_cursor": None}
    if isinstance(offers, BaseException):
        context["offers_problem"] = _trouble_text(offers)
    else:
        context["offers"] = offers
    return page(request, "card.html", context, agent=agent, status_code=status_code)


def _trouble_text(error: BaseException) -> str:
    if isinstance(error, ServiceTrouble):
        return error.message
    raise error


@router.get("/customers/{profile_id}", response_class=HTMLResponse)
async def customer(
    request: Request, profile_id: uuid.UUID, agent: AgentDep, console: ConsoleDep
) -> Response:
    return await _card_page(request, agent, console, profile_id)


@router.get("/customers/{profile_id}/timeline", response_class=HTMLResponse)
async def timeline_fragment(
    request: Request,
    profile_id: uuid.UUID,
    agent: FetchAgentDep,
    console: ConsoleDep,
    cursor: str | None = None,
    channel: str | None = None,
    type: str | None = None,
) -> HTMLResponse:
    """The timeline's items as HTML for the page's script; the next cursor in a header."""
    async with ProfileApi(request.app, agent.api_key, console.settings.timeout_seconds) as api:
        try:
            found = await api.timeline(profile_id, cursor=cursor, channel=channel, type_=type)
        except ServiceTrouble as trouble:
            return HTMLResponse(trouble.message, status_code=503, headers=SECURITY_HEADERS)
    found = found or {"items": [], "next_cursor": None}
    response = templates.TemplateResponse(
        request,
        "_timeline_items.html",
        {"items": found["items"]},
        headers=SECURITY_HEADERS,
    )
    response.headers["X-Next-Cursor"] = found.get("next_cursor") or ""
    return response


# --- logging the call --------------------------------------------------------------------------


async def _identity(
    request: Request, agent: Agent, console: Console, profile_id: uuid.UUID
) -> tuple[dict[str, Any], dict[str, str]] | str:
    async with ProfileApi(request.app, agent.api_key, console.settings.timeout_seconds) as api:
        card = await api.card(profile_id)
    if card is None or isinstance(card, Erased):
        return "This customer is no longer on file."
    return card, strongest_identifier(present.identities(card))


async def _post_all(console: Console, events: list[dict[str, Any]]) -> None:
    for event in events:  # in order: a resolution before the call that ends with it
        await post_event(console.settings, event)


@router.post("/customers/{profile_id}/calls", response_class=HTMLResponse)
async def log_call(
    request: Request,
    profile_id: uuid.UUID,
    agent: AgentDep,
    console: ConsoleDep,
    outcome: Annotated[str, Form(max_length=2000)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    complaint: Annotated[ComplaintAction, Form()] = ComplaintAction.NONE,
    case_id: Annotated[str, Form(max_length=200)] = "",
    category: Annotated[str, Form(max_length=200)] = "",
    severity: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Csrf = None,
) -> Response:
    if not agent.session.csrf_ok(csrf_token):
        return _csrf_refused(request, agent)
    call = CallLog(outcome, note, complaint, case_id, category, severity)
    try:
        found = await _identity(request, agent, console, profile_id)
        if isinstance(found, str):
            return await _card_page(request, agent, console, profile_id, problem=found)
        events = call_events(call, identity=found[1], agent=agent.name, now=now_utc())
        await _post_all(console, events)
    except InvalidForm as invalid:
        return await _card_page(
            request, agent, console, profile_id, problem=str(invalid), status_code=422
        )
    except ServiceTrouble as trouble:
        return await _card_page(
            request, agent, console, profile_id, problem=trouble.message, status_code=503
        )
    log.info(
        "console call logged",
        extra={
            "agent": agent.name,
            "profile_id": str(profile_id),
            "event_ids": [event["event_id"] for event in events],
        },
    )
    return _see(f"/console/customers/{profile_id}?logged={events[-1]['event_id']}")


@router.post("/customers/{profile_id}/offers/{offer_id}", response_class=HTMLResponse)
async def answer_offer(
    request: Request,
    profile_id: uuid.UUID,
    offer_id: str,
    agent: AgentDep,
    console: ConsoleDep,
    decision: Annotated[str, Form(pattern="^(accept|decline)$")],
    csrf_token: Csrf = None,
) -> Response:
    if not agent.session.csrf_ok(csrf_token):
        return _csrf_refused(request, agent)
    try:
        # The offer as the recommender has it now, not as a form says it was.
        offers = await _offers(console, agent, profile_id)
        offer = next((offer for offer in offers if offer.get("offer_id") == offer_id), None)
        if offer is None:
            return await _card_page(
                request,
                agent,
                console,
                profile_id,
                problem="That offer is no longer available; the offers have been refreshed.",
                status_code=409,
            )
        found = await _identity(request, agent, console, profile_id)
        if isinstance(found, str):
            return await _card_page(request, agent, console, profile_id, problem=found)
        event = offer_event(
            offer,
            accepted=decision == "accept",
            identity=found[1],
            agent=agent.name,
            now=now_utc(),
        )
        await _post_all(console, [event])
    except InvalidForm as invalid:
        return await _card_page(
            request, agent, console, profile_id, problem=str(invalid), status_code=422
        )
    except ServiceTrouble as trouble:
        return await _card_page(
            request, agent, console, profile_id, problem=trouble.message, status_code=503
        )
    log.info(
        "console offer answered",
        extra={"agent": agent.name, "profile_id": str(profile_id), "event_id": event["event_id"]},
    )
    return _see(f"/console/customers/{profile_id}?logged={event['event_id']}")
