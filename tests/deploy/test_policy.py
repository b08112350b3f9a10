"""checkov over the built manifests: no failed check that deploy/k8s/.checkov.yaml does not
skip with a reason."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from .manifests import K8S, Resource, tool

CONFIG = K8S / ".checkov.yaml"


def test_every_skipped_check_has_a_reason() -> None:
    lines = CONFIG.read_text().splitlines()
    skipped = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert skipped
    for check in skipped:
        (index,) = [i for i, line in enumerate(lines) if line.strip() == f"- {check}"]
        assert lines[index - 1].strip().startswith("#"), f"{check} is skipped without a reason"
        assert re.fullmatch(r"CKV2?_K8S_\d+", check)


def test_checkov_passes_on_every_overlay(built: dict[str, list[Resource]], tmp_path: Path) -> None:
    for overlay, resources in built.items():
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(resources))
    scan = subprocess.run(
        [str(tool("checkov")), "--config-file", str(CONFIG), "-d", str(tmp_path), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    reports = json.loads(scan.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        (check["check_id"], check["resource"], check["file_path"])
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    summary = reports[0]["summary"]
    assert summary["passed"] > 500  # it really scanned the workloads
    assert summary["parsing_errors"] == 0
