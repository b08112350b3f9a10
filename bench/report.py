"""bench/report.md: one table of figures beside their references, then what limited each."""

from __future__ import annotations

import math
from typing import Any

from bench.harness import Figure, Result


def _number(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):  # not measured
        return "not available"
    if unit in ("ev/s", "req/s"):
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}"


def _ratio(figure: Figure) -> str:
    ratio = figure.ratio
    return "—" if ratio is None else f"{ratio:.2f}×"


def render_markdown(meta: dict[str, Any], results: list[Result]) -> str:
    lines = [
        "# Rapport benchmark",
        "",
        f"Run {meta['when']} on {meta['machine']}; options {meta['options']}; "
        f"took {meta['took_s']} s. Produced by `make bench` (`python -m bench`)."
        + (f" Before any scenario, {meta['warm_up']}." if meta.get("warm_up") else ""),
        "",
        "Every figure is paired with a reference measured in the same run on the same machine: "
        "the machine is shared and noisy, so the ratio says more than the absolute number. "
        '"not available" means nothing was measured: the endpoint is not on the branch that '
        "ran this, or nothing arrived within the scenario's window (its notes say which); "
        "nothing is estimated.",
        "",
        "| scenario | figure | Rapport | reference | ratio | goal | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for index, figure in enumerate(result.figures or [Figure("—", None, "")]):
            reference = (
                f"{_number(figure.reference, figure.unit if figure.unit != 'MB' else 'MB')} "
                f"({figure.reference_label})"
                if figure.reference is not None
                else "—"
            )
            lines.append(
                "| "
                + " | ".join(
                    [
                        result.scenario if index == 0 else "",
                        figure.metric,
                        _number(figure.value, figure.unit),
                        reference,
                        _ratio(figure),
                        result.goal if index == 0 else "",
                        f"**{result.verdict}**" if index == 0 else "",
                    ]
                )
                + " |"
            )
    lines += ["", "## What limited each figure", ""]
    lines.append(
        "Mean CPU per process group while the scenario ran (% of one core; the machine has "
        '2 cores shared with other work — "machine" counts everything on it).'
    )
    lines.append("")
    for result in results:
        if not result.cpu and not result.notes:
            continue
        lines.append(f"### {result.scenario}")
        lines.append("")
        if result.limited_by:
            lines.append(f"- busiest: {result.limited_by}")
        if result.cpu:
            cpu = ", ".join(f"{label} {value:.0f}%" for label, value in sorted(result.cpu.items()))
            lines.append(f"- CPU: {cpu}")
        lines.extend(f"- {note}" for note in result.notes)
        lines.append("")
    return "\n".join(lines) + "\n"
