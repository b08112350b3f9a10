"""The agent console: a customer 360 page for the call center, served at `/console`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from rapport_profile.console.router import router
from rapport_profile.console.settings import ConsoleSettings


def mount_console(app: FastAPI) -> None:
    """Serve the console on `app`; its settings are read now and may be replaced in state."""
    app.state.console_settings = ConsoleSettings()
    app.include_router(router)
    app.mount(
        "/console/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="console-static",
    )


__all__ = ["ConsoleSettings", "mount_console"]
