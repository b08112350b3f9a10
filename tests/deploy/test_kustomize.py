"""Every overlay builds, and what it builds is one coherent set of resources."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from .manifests import K8S, OVERLAYS, Resource, kustomize_build

CLUSTER_SCOPED = {"Namespace"}


def test_the_base_builds_on_its_own() -> None:
    built = kustomize_build(K8S / "base")
    kinds = Counter(r["kind"] for r in built)
    deployments = {r["metadata"]["name"] for r in built if r["kind"] == "Deployment"}
    assert deployments == {
        "rapport-ingest",
        "rapport-profile",
        "rapport-recommender",
        "rapport-recommender-work",  # the re-ranking workers, scaled apart from the API
        "rapport-recommender-express",  # live complaints and consents, ahead of the stream
    }
    assert kinds["Job"] == 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_resource_is_declared_twice(built: dict[str, list[Resource]], overlay: str) -> None:
    keys = Counter((r["kind"], r["metadata"]["name"]) for r in built[overlay])
    assert [key for key, count in keys.items() if count > 1] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_overlays_namespace(
    built: dict[str, list[Resource]], overlay: str
) -> None:
    namespace = OVERLAYS[overlay]
    wrong = [
        (r["kind"], r["metadata"]["name"], r["metadata"].get("namespace"))
        for r in built[overlay]
        if r["kind"] not in CLUSTER_SCOPED and r["metadata"].get("namespace") != namespace
    ]
    assert wrong == []
    (ns,) = (r for r in built[overlay] if r["kind"] == "Namespace")
    assert ns["metadata"]["name"] == namespace
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_dev_is_production_shrunk(built: dict[str, list[Resource]]) -> None:
    dev_kinds = {r["kind"] for r in built["dev"]}
    prod_kinds = {r["kind"] for r in built["prod"]}
    # Only production scales consumers on lag, backs up and pulls secrets from a store.
    assert prod_kinds - dev_kinds == {
        "ScaledObject",
        "TriggerAuthentication",
        "ObjectStore",
        "ScheduledBackup",
        "ExternalSecret",
        "Secret",
    }
    assert dev_kinds <= prod_kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_named_in_full(built: dict[str, list[Resource]], overlay: str) -> None:
    """The base's short names (rapport-profile) must all be rewritten by the overlay's images."""
    images = {
        container["image"]
        for resource in built[overlay]
        if resource["kind"] in {"Deployment", "Job"}
        for container in resource["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == 3
    for image in images:
        assert re.fullmatch(r"ghcr\.io/rapport/rapport-(ingest|profile|recommender):[\w.-]+", image)
        assert not image.endswith(":latest")
