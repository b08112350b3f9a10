"""An idle connection stays open as long as the service is told (`keep_alive_seconds`), not
uvicorn's 5 s: behind a load balancer whose idle timeout is longer than the service's, the
service closes connections the balancer still thinks open, and a request sent on one as it
closes fails (the bench's probes met it as a client read error under load)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from bench.stack import free_port

SERVICE = textwrap.dedent(
    """
    import sys
    from contextlib import asynccontextmanager

    from rapport_events.service import create_app, serve
    from rapport_events.settings import ServiceSettings


    @asynccontextmanager
    async def lifespan(app):
        yield


    settings = ServiceSettings(port=int(sys.argv[1]), host="127.0.0.1", keep_alive_seconds=2)
    serve(
        create_app(title="t", description="", settings=settings, checks={}, lifespan=lifespan),
        settings,
    )
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
