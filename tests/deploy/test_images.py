"""The Dockerfile lints clean and holds to what the images promise; compose starts in order."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import jsonschema
import yaml

from .manifests import DEPLOY, ROOT, SERVICES, WITH_DATABASE

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
HADOLINT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hadolint"


def test_hadolint_is_clean() -> None:
    lint = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (lint.returncode, lint.stdout) == (0, "")


def test_hadolint_would_complain() -> None:
    """The lint above can fail: an unpinned base is reported."""
    lint = subprocess.run(
        [str(HADOLINT), "-"],
        input="FROM python\nRUN pip install x\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode != 0
    assert "DL3006" in lint.stdout


def test_dockerfile_promises() -> None:
    text = DOCKERFILE.read_text()
    # Base images pinned to a version; no latest.
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+$", text, re.M)
    assert re.search(r"^ARG UV_IMAGE=ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+$", text, re.M)
    assert ":latest" not in text
    assert "uv sync --frozen --no-dev" in text
    # The runtime stage: numeric non-root user, health check with python, exec-form entry.
    runtime = text[text.index("AS runtime") :]
    assert re.search(r"^USER \d+:\d+$", runtime, re.M)
    assert "uv" not in re.findall(r"^COPY .*", runtime, re.M)[0].split("/app/.venv")[0][-5:]
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \["python"', runtime, re.M)
    assert re.search(r'^ENTRYPOINT \["/app/\.venv/bin/rapport-service"\]$', runtime, re.M)
    assert re.search(r"^EXPOSE \$\{PORT\}$", runtime, re.M)
    assert "RAPPORT_HOST=0.0.0.0" in runtime
    assert not re.search(r"^(ADD|RUN .*(curl|wget|apt-get install))", text, re.M)


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"  # an allow-list: .git, .venv, .local, .cache never leave the laptop
    allowed = [rule[1:] for rule in rules if rule.startswith("!")]
    copied = re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(), re.M)
    for pattern in copied:
        source = pattern.replace("${SERVICE}", "profile")
        assert (ROOT / source).exists(), source
        assert any(
            fnmatch(source, rule)
            or fnmatch(source, rule + "/*")
            or rule.replace("*", "profile").startswith(source + "/")
            for rule in allowed
        ), f"{source} is excluded by .dockerignore"
    # The code itself goes in: the packages' sources, not only their pyproject.toml.
    assert {"libs/events/src", "services/*/src"} <= set(allowed)


COMPOSE_SCHEMA = Path(__file__).parent / "crds" / "compose-spec.json"


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert [error.message for error in validator.iter_errors(compose)] == []
    compose["services"]["kafka"]["healthcheck"]["intervall"] = "5s"  # the check can fail
    assert not validator.is_valid(compose)


def test_compose_starts_in_dependency_order() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert re.fullmatch(r"postgres:15\.\d+-\w+", services["postgres"]["image"])
    for name in ("kafka", "postgres"):
        assert services[name]["healthcheck"]["test"]
    assert services["ingest"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for name in WITH_DATABASE:
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["migrate"]
        assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert services[name]["depends_on"] == {
            "kafka": {"condition": "service_healthy"},
            f"{name}-migrate": {"condition": "service_completed_successfully"},
        }
        assert "DATABASE_URL" in services[name]["environment"]
        assert (
            services[name]["environment"]["DATABASE_URL"] == migrate["environment"]["DATABASE_URL"]
        )
    for name, port in SERVICES.items():
        service = services[name]
        env = service["environment"]
        assert env["RAPPORT_PORT"] == str(port)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert service["build"]["args"] == {"SERVICE": name, "PORT": str(port)}
        assert service["read_only"] is True
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    console = services["profile"]["environment"]
    assert console["RAPPORT_CONSOLE_RECOMMENDER_URL"] == "http://recommender:8003"
    assert console["RAPPORT_CONSOLE_INGEST_URL"] == "http://ingest:8001"
    init = (DEPLOY / "compose" / "postgres-init" / "10-databases.sh").read_text()
    for name in WITH_DATABASE:
        assert f"CREATE DATABASE rapport_{name} OWNER rapport_{name};" in init


def test_the_builder_stage_installs_one_service_from_the_lock(tmp_path: Path) -> None:
    """Run the Dockerfile's own `uv sync` lines on the build context .dockerignore lets through
    (no Docker here): the lock installs, and the venv holds the one service and its migrations,
    no dev tools and no other service."""
    # A fixed place with the files' own times, so that uv's cache of the built wheels holds
    # from one run to the next while the sources do not change.
    context = ROOT / ".cache" / "deploy-image-context"
    shutil.rmtree(context, ignore_errors=True)
    for pattern in ("pyproject.toml", "uv.lock", "libs/events", "services/*/pyproject.toml"):
        for path in ROOT.glob(pattern):
            target = context / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, target)
            else:
                shutil.copy2(path, target)
    shutil.copytree(ROOT / "services/profile/src", context / "services/profile/src")
    for cache in context.rglob("__pycache__"):
        shutil.rmtree(cache)
    shutil.rmtree(context / "libs/events/tests", ignore_errors=True)

    venv = tmp_path / "venv"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_COMPILE_BYTECODE": "0",  # the image compiles; here it would only cost time
    }
    commands = re.findall(r"(uv sync [^&\n]+)", DOCKERFILE.read_text())
    assert len(commands) == 2
    for command in commands:
        argv = shlex.split(command.replace("${SERVICE}", "profile").strip())
        # uv as the Makefile runs it (python3 -m uv), not the venv's interpreter.
        synced = subprocess.run(
            ["python3", "-m", *argv, "--quiet"],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert synced.returncode == 0, synced.stderr

    # The console script the ENTRYPOINT links to, on the venv's own interpreter. (Running it
    # would import the whole stack uncompiled: the `--help` check lives in test_consistency.)
    script = (venv / "bin" / "rapport-profile").read_text()
    assert script.startswith(f"#!{venv}/bin/python")
    assert "from rapport_profile.__main__ import main" in script
    site = next((venv / "lib").glob("python3.*/site-packages"))
    assert (site / "rapport_profile/store/migrations/env.py").exists()
    assert list((site / "rapport_profile/store/migrations/versions").glob("0001_*.py"))
    assert not (site / "rapport_profile.pth").exists()  # installed, not linked to the source
    # Package data (templates, static files, migration scripts) ships inside the wheel.
    source = ROOT / "services/profile/src"
    data = [
        path.relative_to(source)
        for path in source.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    assert data
    assert [path for path in data if not (site / path).exists()] == []
    for absent in ("rapport_ingest", "rapport_recommender", "pytest", "mypy", "ruff"):
        assert not (site / absent).exists(), absent
