"""checkov over the built manifests: no failed check that deploy/k8s/.checkov.yaml does not
skip with a reason."""

from __future__ import annotations

import json
import re

import yaml

from .conftest import Scan
from .manifests import K8S

CONFIG = K8S / ".checkov.yaml"


def test_every_skipped_check_has_a_reason() -> None:
    lines = CONFIG.read_text().splitlines()
    skipped = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert skipped
    for check in skipped:
        (index,) = [i for i, line in enumerate(lines) if line.strip() == f"- {check}"]
        assert lines[index - 1].strip().startswith("#"), f"{check} is skipped without a reason"
        assert re.fullmatch(r"CKV2?_K8S_\d+", check)


def test_checkov_passes_on_every_overlay(checkov_scan: Scan) -> None:
    reports = json.loads(checkov_scan.result())
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        (check["check_id"], check["resource"], check["file_path"])
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    summary = reports[0]["summary"]
    assert summary["passed"] > 500  # it really scanned the workloads of both overlays
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 100
