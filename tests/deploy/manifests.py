"""Building and reading the deploy artefacts, shared by the deploy tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
TOOLS = ROOT / ".cache" / "bin"
OVERLAYS = {"dev": "rapport-dev", "prod": "rapport"}
SERVICES = {"ingest": 8001, "profile": 8002, "recommender": 8003}
WITH_DATABASE = ("profile", "recommender")

Resource = dict[str, Any]


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make tools` (deploy/tools/install.sh)")
    return path


def kustomize_build(directory: Path) -> list[Resource]:
    built = subprocess.run(
        [str(tool("kustomize")), "build", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def of_kind(resources: list[Resource], kind: str) -> Iterator[Resource]:
    return (r for r in resources if r["kind"] == kind)


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: Resource) -> Resource:
    spec: Resource = workload["spec"]["template"]["spec"]
    return spec


def container_env(resources: list[Resource], container: Resource) -> dict[str, Any]:
    """Every variable a container gets: envFrom ConfigMaps' data, then env (value or source)."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update(named(resources, "ConfigMap", ref)["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env
