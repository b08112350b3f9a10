"""schemathesis against every service's OpenAPI, with and without a valid key: no 5xx; and no
business endpoint answers without the right scope."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import httpx
import pytest

from bench.stack import VENV_BIN, Stack
from faults.modes import MODES, Durations

# The full form (100 examples per operation) of ingest's many operations took 300 s on a
# machine loaded ~5x over its cores: the suite's time budget, not a finding.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PUBLIC = {"/healthz", "/readyz", "/metrics"}
# The scopes that may open a service's endpoints; every other scope must be refused.
GRANTING = {
    "ingest": {"events:write"},
    "profile": {"profiles:read", "profiles:erase"},
    "recommender": {"offers:read"},
}


async def schemathesis(
    url: str, examples: int, headers: list[str], scratch: Path
) -> tuple[int, str]:
    args = [str(VENV_BIN / "schemathesis"), "run", f"{url}/openapi.json"]
    args += ["--checks", "not_a_server_error", "--max-examples", str(examples), "--seed", "7"]
    args += ["--no-color", "--workers", "2", "--request-timeout", "10"]
    args += ["--generation-database", "none"]  # leave no .schemathesis/ behind
    for header in headers:
        args += ["--header", header]
    # schemathesis keeps a cache in ./.schemathesis: give it a scratch directory, not the repo.
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=scratch
    )
    output, _ = await asyncio.wait_for(process.communicate(), 600)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", ["ingest", "profile", "recommender"])
@pytest.mark.parametrize("keyed", [True, False], ids=["with-key", "without-key"])
async def test_fuzzed_requests_never_get_a_5xx(
    stack: Stack, service: str, keyed: bool, mode: Durations, tmp_path: Path
) -> None:
    headers = [f"Authorization: Bearer {stack.admin.secret}"] if keyed else []
    code, output = await schemathesis(stack.url(service), mode.examples, headers, tmp_path)
    assert code == 0, output[-6000:]


def operations(openapi: dict[str, object]) -> list[tuple[str, str]]:
    paths = openapi["paths"]
    assert isinstance(paths, dict)
    found = []
    for path, methods in paths.items():
        if path in PUBLIC:
            continue
        for method in methods:
            concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            found.append((method.upper(), concrete))
    return found


@pytest.mark.parametrize("service", ["ingest", "profile", "recommender"])
async def test_no_endpoint_answers_without_the_right_scope(stack: Stack, service: str) -> None:
    async with httpx.AsyncClient(base_url=stack.url(service), timeout=10) as client:
        openapi = (await client.get("/openapi.json")).json()
        calls = operations(openapi)
        assert calls, "the service documents no business endpoint"
        wrong = [key for key in stack.keys if not set(key.scopes) & GRANTING[service]]
        for method, path in calls:
            anonymous = await client.request(method, path, json={})
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            forged = await client.request(
                method, path, json={}, headers={"Authorization": "Bearer rk_forged"}
            )
            assert forged.status_code == 401, (method, path, forged.status_code)
            for key in wrong:
                answer = await client.request(method, path, json={}, headers=key.bearer)
                assert answer.status_code == 403, (method, path, key.name, answer.status_code)
