"""A service whose consumer loop dies must not live on answering HTTP without folding: the
process shuts down and exits non-zero, so that the orchestrator replaces it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bench.stack import free_port

SERVICE = textwrap.dedent(
    """
    import asyncio, sys
    from contextlib import asynccontextmanager

    from rapport_events.runtime import consuming
    from rapport_events.service import create_app, serve
    from rapport_events.settings import ServiceSettings


    class DyingLoop:
        async def run(self):
            await asyncio.sleep(0.5)
            raise RuntimeError("the loop met something it cannot handle")

        def stop(self):
            pass


    @asynccontextmanager
    async def lifespan(app):
        async with consuming(DyingLoop()):
            yield


    settings = ServiceSettings(port=int(sys.argv[1]), host="127.0.0.1", log_json=True)
    serve(create_app(title="t", description="", settings=settings, checks={}, lifespan=lifespan), settings)
    """
)


def test_a_service_whose_consumer_died_exits_with_status_1() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", SERVICE, str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1, finished.stderr[-2000:]
    assert "consumer_crashed" in finished.stdout + finished.stderr
    # The reason is the error's type: a message may quote personal data.
    assert "cannot handle" not in finished.stdout + finished.stderr
