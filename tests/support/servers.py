"""Run a service's ASGI app under a real uvicorn server on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from bench.stack import free_port

T = TypeVar("T")


@asynccontextmanager
async def running(app: FastAPI, *, ready_path: str = "/readyz") -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL once `/readyz` answers 200."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(300):
                if task.done():
                    task.result()  # the server died: raise why
                try:
                    if (await client.get(ready_path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError(f"{app.title} was not ready within 30 s")
        yield base
    finally:
        server.should_exit = True
        await task


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 10, interval: float = 0.05
) -> T:
    """Poll `check` until it returns something other than None; fail after `timeout` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
