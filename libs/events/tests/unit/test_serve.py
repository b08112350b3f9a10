"""What `serve` does for every service, seen from outside a real process.

An idle connection stays open as long as the service is told (`keep_alive_seconds`), not
uvicorn's 5 s: behind a load balancer whose idle timeout is longer than the service's, the
service closes connections the balancer still thinks open, and a request sent on one as it
closes fails (the bench's probes met it as a client read error under load).

Once started, the process's heap is frozen out of the cyclic garbage collector, whose full
collections otherwise walk it every few seconds under load (`settle_heap`)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from bench.stack import free_port
from rapport_events.heap import YOUNG_GENERATION_THRESHOLD

SERVICE = textwrap.dedent(
    """
    import gc
    import sys
    from contextlib import asynccontextmanager

    from rapport_events.service import create_app, serve
    from rapport_events.settings import ServiceSettings


    @asynccontextmanager
    async def lifespan(app):
        app.state.frozen_at_startup = gc.get_freeze_count()
        yield


    settings = ServiceSettings(port=int(sys.argv[1]), host="127.0.0.1", keep_alive_seconds=2)
    app = create_app(title="t", description="", settings=settings, checks={}, lifespan=lifespan)


    @app.get("/gc")
    async def frozen():
        return {
            "at_startup": app.state.frozen_at_startup,
            "now": gc.get_freeze_count(),
            "threshold": gc.get_threshold()[0],
        }


    serve(app, settings)
    """
)
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.fixture
def port() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVICE, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "the service exited"
                assert time.monotonic() < deadline, "the service did not start listening"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def answer(connection: socket.socket) -> bytes:
    """One whole response (head and body)."""
    connection.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, "the service closed the connection"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def closed(connection: socket.socket, within: float) -> bool:
    """Whether the service closes its end within `within` seconds from now."""
    connection.settimeout(within)
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False


def test_an_idle_connection_is_kept_as_long_as_configured_then_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(REQUEST)
        assert answer(connection).startswith(b"HTTP/1.1 200")
        time.sleep(1)  # idle, within the two seconds
        connection.sendall(REQUEST)
        assert answer(connection).startswith(b"HTTP/1.1 200")
        time.sleep(2.5)  # idle past them; uvicorn's own 5 s would keep it open until 5 s
        assert closed(connection, within=2)


def test_the_started_process_is_left_out_of_full_collections(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"GET /gc HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = answer(connection)
    frozen = json.loads(response.partition(b"\r\n\r\n")[2])
    assert frozen["at_startup"] == 0  # nothing frozen before the service had started
    assert frozen["now"] > 10_000  # the modules, the app, the validators
    assert frozen["threshold"] == YOUNG_GENERATION_THRESHOLD
