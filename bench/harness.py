"""What every scenario needs: results, the load generator as a subprocess, the trivial reference
server, per-process sampling and the probe for "is this endpoint on this branch?"."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.sampler import Sampler, Usage, listener_pids
from bench.stack import REPO_ROOT, VENV_BIN, Stack, free_port

# The live load the latency goals are stated at (freshness, event → changed offer), in posts/s.
GOAL_RATE = 1000


@dataclass
class Figure:
    metric: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_label: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.reference or math.isnan(self.value):
            return None
        return self.value / self.reference


@dataclass
class Result:
    scenario: str
    goal: str
    figures: list[Figure] = field(default_factory=list)
    verdict: str = "n/a"  # met | not met | not available | partial
    limited_by: str = ""
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)

    def absorb(self, usage: Usage) -> None:
        self.cpu = {label: round(value, 1) for label, value in usage.mean_cpu().items()}
        self.rss_mb = {label: round(value, 1) for label, value in usage.peak_rss_mb().items()}
        top = usage.top()
        self.limited_by = ", ".join(f"{label} {cpu}%" for label, cpu in top) or "idle"


@dataclass
class Bench:
    """The run's shared state: options, the stack, the load generators in flight."""

    stack: Stack
    scale: float
    duration: float
    seed: int
    rate: int = GOAL_RATE  # live posts/s under the freshness and offer probes
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rapport-bench-")))
    loadgens: list[int] = field(default_factory=list)
    extra_pids: dict[str, list[int]] = field(default_factory=dict)
    rss_samples: dict[str, list[float]] = field(default_factory=dict)

    def targets(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for process in self.stack.processes:
            if process.alive():
                found.setdefault(f"{process.name} (service)", []).append(process.pid)
        found["load generator"] = list(self.loadgens)
        # This process: the freshness and offer probes (httpx, polling every 5 ms) and the
        # in-process references compete for the same cores; the report shows what they cost.
        found["bench process (probes, references)"] = [os.getpid()]
        kafka_port = int(self.stack.infra.kafka_bootstrap.rsplit(":", 1)[1])
        found["Kafka broker (shared)"] = listener_pids(kafka_port)
        pg_port = int(self.stack.infra.database_url.split("@", 1)[1].split("/")[0].split(":")[1])
        found["PostgreSQL (shared, all backends)"] = listener_pids(pg_port, recursive=True)
        found.update(self.extra_pids)
        return found

    def sampler(self) -> Sampler:
        return Sampler(self.targets)

    def remember_rss(self, usage: Usage) -> None:
        for label, values in usage.rss.items():
            if "(service)" in label:
                self.rss_samples.setdefault(label, []).extend(v / 2**20 for v in values if v)

    async def load(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run the load generator in its own process; its summary."""
        path = self.workdir / f"spec-{len(self.loadgens)}.json"
        path.write_text(json.dumps(spec))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        self.loadgens.append(process.pid)
        try:
            out, err = await asyncio.wait_for(process.communicate(), float(spec["duration"]) + 120)
        finally:
            self.loadgens.remove(process.pid)
        if process.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
        summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return summary


async def endpoint_missing(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> bool:
    """True when the route does not exist on this branch (FastAPI's own 404/405)."""
    answer = await client.request(method, url, **kw)
    if answer.status_code == 405:
        return True
    if answer.status_code != 404:
        return False
    try:
        message = answer.json().get("error", {}).get("message", "")
    except ValueError:
        return True
    return bool(message == "Not Found")


class TrivialServer:
    """The reference for ingest's HTTP cost: a FastAPI endpoint that parses the JSON and
    answers 202, served exactly as the services are (uvicorn, uvloop, httptools, one worker)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TrivialServer:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.process = subprocess.Popen(  # noqa: S603, ASYNC220 - our module, fixed args; no wait
            [
                str(VENV_BIN / "uvicorn"),
                "bench.trivial:app",
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--loop=uvloop",
                "--http=httptools",
                "--no-access-log",
                "--log-level=warning",
            ],
            env=env,
            cwd=REPO_ROOT,
        )
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(600):
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        raise TimeoutError("the trivial reference server did not start")

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait)
