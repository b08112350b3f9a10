"""Who is at the console: the signed-in agent, read from the sealed session cookie.

Every console page but the sign-in page needs a session whose key the key ring still knows and
which still carries profiles:read. Forms carry the session's CSRF token; with the cookie being
SameSite=Strict that is belt and braces, and it keeps older browsers safe too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response

from rapport_events.auth import KeyRing, Principal, Scope
from rapport_profile.console.session import COOKIE, Session, SessionSeal
from rapport_profile.console.settings import ConsoleSettings

SIGNIN_PATH = "/console/signin"


@dataclass(frozen=True)
class Console:
    """The console's per-app wiring, built on first use from `app.state.console_settings`."""

    settings: ConsoleSettings
    seal: SessionSeal


def get_console(request: Request) -> Console:
    state = request.app.state
    console: Console | None = getattr(state, "console", None)
    if console is None:
        settings: ConsoleSettings = state.console_settings
        seal = SessionSeal(
            settings.session_secret.get_secret_value(), int(settings.session_hours * 3600)
        )
        console = state.console = Console(settings, seal)
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


@dataclass(frozen=True)
class Agent:
    principal: Principal
    session: Session

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def api_key(self) -> str:
        return self.session.api_key


def admit(key_ring: KeyRing, api_key: str) -> Principal | str:
    """The principal behind a key fit for the console, or why it is not."""
    principal = key_ring.identify(api_key.strip())
    if principal is None:
        return "That API key is not known. Check it and try again."
    if Scope.PROFILES_READ not in principal.scopes:
        return f"This API key does not carry {Scope.PROFILES_READ}, which the console needs."
    return principal


def _agent(request: Request, console: Console) -> Agent | None:
    session = console.seal.open(request.cookies.get(COOKIE))
    if session is None:
        return None
    admitted = admit(request.app.state.key_ring, session.api_key)
    return Agent(admitted, session) if isinstance(admitted, Principal) else None


def signed_in(request: Request, console: ConsoleDep) -> Agent:
    """A page: without a session, off to the sign-in page."""
    agent = _agent(request, console)
    if agent is None:
        raise HTTPException(
            status.HTTP_303_SEE_OTHER, detail="sign in first", headers={"Location": SIGNIN_PATH}
        )
    return agent


def signed_in_fetch(request: Request, console: ConsoleDep) -> Agent:
    """A script's request: a plain 401 it can act on, not a redirect to a page."""
    agent = _agent(request, console)
    if agent is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="the session has ended")
    return agent


AgentDep = Annotated[Agent, Depends(signed_in)]
FetchAgentDep = Annotated[Agent, Depends(signed_in_fetch)]


def set_session_cookie(
    response: Response, request: Request, console: Console, session: Session
) -> None:
    secure = console.settings.cookie_secure
    response.set_cookie(
        COOKIE,
        console.seal.seal(session),
        max_age=console.seal.max_age_seconds,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" if secure is None else secure,
    )
