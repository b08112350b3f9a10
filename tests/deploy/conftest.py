from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .manifests import K8S, OVERLAYS, Resource, kustomize_build, tool


@pytest.fixture(scope="session")
def built() -> dict[str, list[Resource]]:
    """Every overlay, built once per session."""
    return {overlay: kustomize_build(K8S / "overlays" / overlay) for overlay in OVERLAYS}


@dataclass
class Scan:
    process: subprocess.Popen[bytes]
    report: Path

    def result(self) -> str:
        self.process.wait(timeout=300)
        return self.report.read_text()


@pytest.fixture(scope="session", autouse=True)
def checkov_scan(
    built: dict[str, list[Resource]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scan]:
    """checkov takes half a minute: start it with the first deploy test, in the background,
    so that it runs while the others do; test_policy reads its report."""
    manifests = tmp_path_factory.mktemp("manifests")
    for overlay, resources in built.items():
        (manifests / f"{overlay}.yaml").write_text(yaml.safe_dump_all(resources))
    report = manifests.parent / "checkov.json"
    with report.open("wb") as output:
        process = subprocess.Popen(
            [
                str(tool("checkov")),
                "--config-file",
                str(K8S / ".checkov.yaml"),
                "-d",
                str(manifests),
                "-o",
                "json",
            ],
            stdout=output,
            stderr=subprocess.DEVNULL,
        )
    scan = Scan(process, report)
    yield scan
    if process.poll() is None:
        process.kill()
        process.wait()
