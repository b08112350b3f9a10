from __future__ import annotations

import pytest

from .manifests import K8S, OVERLAYS, Resource, kustomize_build


@pytest.fixture(scope="session")
def built() -> dict[str, list[Resource]]:
    """Every overlay, built once per session."""
    return {overlay: kustomize_build(K8S / "overlays" / overlay) for overlay in OVERLAYS}
