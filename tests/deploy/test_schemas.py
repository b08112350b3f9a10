"""Core resources validate strictly against the Kubernetes OpenAPI schema (unknown fields fail);
custom resources carry what their operators require."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes_validate import validate

from .manifests import OVERLAYS, Resource, of_kind

CRDS = Path(__file__).parent / "crds"

KUBERNETES_VERSION = "1.34.0"  # the oldest minor the manifests promise to run on
CUSTOM_GROUPS = (
    "kafka.strimzi.io/",
    "postgresql.cnpg.io/",
    "barmancloud.cnpg.io/",
    "keda.sh/",
    "monitoring.coreos.com/",
    "external-secrets.io/",
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_resources_match_the_kubernetes_schema(
    built: dict[str, list[Resource]], overlay: str
) -> None:
    core = [r for r in built[overlay] if not r["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert len(core) > 20
    for resource in core:
        validate(resource, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field(built: dict[str, list[Resource]]) -> None:
    """The check above can fail: a misspelt field is caught, not ignored."""
    deployment = next(of_kind(built["prod"], "Deployment"))
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(Exception, match="replica"):
        validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_custom_resource_is_a_known_kind(built: dict[str, list[Resource]]) -> None:
    custom = {
        (r["apiVersion"], r["kind"])
        for r in built["prod"]
        if r["apiVersion"].startswith(CUSTOM_GROUPS)
    }
    assert custom == {
        ("kafka.strimzi.io/v1", "Kafka"),
        ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaTopic"),
        ("kafka.strimzi.io/v1", "KafkaUser"),
        ("postgresql.cnpg.io/v1", "Cluster"),
        ("postgresql.cnpg.io/v1", "ScheduledBackup"),
        ("barmancloud.cnpg.io/v1", "ObjectStore"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("keda.sh/v1alpha1", "TriggerAuthentication"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("external-secrets.io/v1", "ExternalSecret"),
    }


def crd_schema(resource: Resource) -> dict[str, Any]:
    group, version = resource["apiVersion"].split("/")
    path = CRDS / f"{group}_{version}_{resource['kind']}.json"
    assert path.exists(), f"no vendored CRD schema for {resource['apiVersion']} {resource['kind']}"
    return strict(json.loads(path.read_text()))


def strict(schema: Any) -> Any:
    """Unknown fields become errors, as in `kubectl apply --validate=strict`; the API server
    would otherwise prune them without a word. Free-form maps (`config`) stay free."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    )
    tightened = {key: strict(value) for key, value in schema.items()}
    return {**tightened, "additionalProperties": False} if closed else tightened


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_operators_crds(
    built: dict[str, list[Resource]], overlay: str
) -> None:
    custom = [r for r in built[overlay] if r["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert len(custom) > 15
    for resource in custom:
        errors = [
            f"{'.'.join(map(str, error.path))}: {error.message}"
            for error in jsonschema.Draft7Validator(crd_schema(resource)).iter_errors(resource)
        ]
        assert errors == [], f"{resource['kind']}/{resource['metadata']['name']}"


def test_crd_validation_rejects_an_old_field_name(built: dict[str, list[Resource]]) -> None:
    """The check above can fail: `operation` (Strimzi v1beta2) instead of `operations`."""
    user = next(of_kind(built["prod"], "KafkaUser"))
    acl = {**user["spec"]["authorization"]["acls"][0]}
    acl["operation"] = acl.pop("operations")[0]
    broken = {**user, "spec": {**user["spec"], "authorization": {"type": "simple", "acls": [acl]}}}
    messages = [e.message for e in jsonschema.Draft7Validator(crd_schema(user)).iter_errors(broken)]
    assert any("'operation' was unexpected" in message for message in messages)


def test_kafka_runs_kraft_with_node_pools(built: dict[str, list[Resource]]) -> None:
    prod = built["prod"]
    (kafka,) = of_kind(prod, "Kafka")
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/kraft": "enabled",
        "strimzi.io/node-pools": "enabled",
    }
    spec = kafka["spec"]["kafka"]
    assert spec["version"] == "4.1.1"  # the version deploy/local and compose run
    assert "zookeeper" not in kafka["spec"]
    assert spec["authorization"]["type"] == "simple"
    (listener,) = spec["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert spec["config"]["min.insync.replicas"] == 2
    pools = {p["metadata"]["name"]: p for p in of_kind(prod, "KafkaNodePool")}
    roles = sorted(role for p in pools.values() for role in p["spec"]["roles"])
    assert roles == ["broker", "controller"]
    for pool in pools.values():
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert pool["spec"]["replicas"] == 3
        assert pool["spec"]["storage"]["type"] in {"jbod", "persistent-claim"}


def test_topics_are_replicated_and_bounded(built: dict[str, list[Resource]]) -> None:
    for topic in of_kind(built["prod"], "KafkaTopic"):
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "rapport-kafka"
        assert spec["partitions"] == 12
        assert spec["replicas"] == 3
        assert spec["config"]["min.insync.replicas"] == 2
        assert "retention.ms" in spec["config"]


def test_postgres_clusters_are_highly_available_and_backed_up(
    built: dict[str, list[Resource]],
) -> None:
    prod = built["prod"]
    clusters = {c["metadata"]["name"]: c for c in of_kind(prod, "Cluster")}
    assert set(clusters) == {"rapport-profile-db", "rapport-recommender-db"}
    (store,) = of_kind(prod, "ObjectStore")
    credentials = store["spec"]["configuration"]["s3Credentials"]
    assert all("name" in ref and "key" in ref for ref in credentials.values())
    scheduled = {b["spec"]["cluster"]["name"] for b in of_kind(prod, "ScheduledBackup")}
    assert scheduled == set(clusters)
    for name, cluster in clusters.items():
        spec = cluster["spec"]
        assert spec["instances"] == 3
        database = name.removesuffix("-db").replace("-", "_")
        assert spec["bootstrap"]["initdb"] == {"database": database, "owner": database}
        (plugin,) = spec["plugins"]
        assert plugin["isWALArchiver"] is True
        assert plugin["parameters"]["barmanObjectName"] == store["metadata"]["name"]
        assert spec["storage"]["size"]


def test_keda_scales_each_consumer_on_its_own_lag(built: dict[str, list[Resource]]) -> None:
    prod = built["prod"]
    auth_names = {a["metadata"]["name"] for a in of_kind(prod, "TriggerAuthentication")}
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(prod, "ScaledObject")}
    assert set(scaled) == {"rapport-profile", "rapport-recommender"}
    for target, scaled_object in scaled.items():
        spec = scaled_object["spec"]
        assert spec["maxReplicaCount"] == 12  # the partitions: a 13th consumer would idle
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == target
        assert trigger["metadata"]["topic"] == "rapport.touchpoints.v1"
        assert trigger["authenticationRef"]["name"] in auth_names
        # KEDA owns the count: the Deployment must not carry one to reset it on every apply.
        deployment = next(d for d in of_kind(prod, "Deployment") if d["metadata"]["name"] == target)
        assert "replicas" not in deployment["spec"]


def test_monitoring_covers_every_service(built: dict[str, list[Resource]]) -> None:
    prod = built["prod"]
    monitored = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: m
        for m in of_kind(prod, "ServiceMonitor")
    }
    assert set(monitored) == {"rapport-ingest", "rapport-profile", "rapport-recommender"}
    for monitor in monitored.values():
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint == {"port": "http", "path": "/metrics", "interval": "30s"}
    (rules,) = of_kind(prod, "PrometheusRule")
    alerts = {r["alert"]: r for g in rules["spec"]["groups"] for r in g["rules"]}
    assert {
        "RapportConsumerLagHigh",
        "RapportDeadLettersGrowing",
        "RapportHighErrorRate",
        "RapportIngestRejectingEvents",
        "RapportNotReady",
    } <= set(alerts)
    for name, alert in alerts.items():
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["runbook_url"].endswith("#" + name.lower())


def test_no_secret_value_is_committed(built: dict[str, list[Resource]]) -> None:
    for overlay, resources in built.items():
        for secret in of_kind(resources, "Secret"):
            # The one generated Secret holds KEDA's user name, which is no credential.
            assert secret["metadata"]["name"] == "rapport-keda-username", overlay
            assert set(secret["data"]) == {"username"}
