"""Core resources validate strictly against the Kubernetes OpenAPI schema (unknown fields fail);
custom resources carry what their operators require."""

from __future__ import annotations

import pytest
from kubernetes_validate import validate

from .manifests import OVERLAYS, Resource, of_kind

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
        ("kafka.strimzi.io/v1beta2", "Kafka"),
        ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
        ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
        ("kafka.strimzi.io/v1beta2", "KafkaUser"),
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
