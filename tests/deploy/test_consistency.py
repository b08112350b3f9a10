"""What breaks a deployment silently: a setting never set, a probe path or port that does not
exist, a topic named differently, a migration command that is not there."""

from __future__ import annotations

import re
import ssl
import tomllib
from typing import Any

import certifi
import httpx
import pytest
from pydantic_settings import BaseSettings

from rapport_events.settings import DatabaseSettings, KafkaSettings, ServiceSettings
from rapport_events.topics import ALL_TOPICS
from rapport_ingest.settings import IngestSettings
from rapport_profile.console.settings import ConsoleSettings
from rapport_profile.settings import ProfileSettings
from rapport_recommender.settings import RecommenderSettings

from .manifests import (
    OVERLAYS,
    ROOT,
    SERVICES,
    WITH_DATABASE,
    Resource,
    container_env,
    named,
    of_kind,
    pod_spec,
)

SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "profile": ProfileSettings,
    "recommender": RecommenderSettings,
}
# Set by the manifests only to compose DATABASE_URL from the CloudNativePG secret.
COMPOSITION_HELPERS = {"PG_USER", "PG_PASSWORD", "PG_HOST", "PG_DATABASE"}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads, nested settings included."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for field, info in settings.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            names |= env_names(nested)
        else:
            names.add(f"{prefix}{field}".upper())
    return names


def read_by(service: str) -> set[str]:
    """Every variable the service's process reads: its settings and, in profile, the console's."""
    names = env_names(SETTINGS[service])
    if service == "profile":
        names |= env_names(ConsoleSettings)
    return names


def service_container(resources: list[Resource], service: str) -> Resource:
    deployment = named(resources, "Deployment", f"rapport-{service}")
    (container,) = pod_spec(deployment)["containers"]
    return container


def test_env_names_reads_the_nested_settings() -> None:
    names = env_names(ProfileSettings)
    assert {"RAPPORT_PORT", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"} <= names
    assert env_names(KafkaSettings) <= names
    assert env_names(DatabaseSettings) <= names


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_what_production_must_say_is_set(
    built: dict[str, list[Resource]], overlay: str, service: str
) -> None:
    """The defaults are the laptop's (127.0.0.1, no keys): in a cluster they would be wrong."""
    env = container_env(built[overlay], service_container(built[overlay], service))
    required = {
        "RAPPORT_HOST",
        "RAPPORT_PORT",
        "RAPPORT_API_KEYS",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_CAFILE",
    }
    if service in WITH_DATABASE:
        required |= {"DATABASE_URL", "RAPPORT_CONSUMER_GROUP"}
    if service == "profile":  # the console: one session secret for all replicas, its own key
        required |= {
            "RAPPORT_CONSOLE_SESSION_SECRET",
            "RAPPORT_CONSOLE_INGEST_KEY",
            "RAPPORT_CONSOLE_RECOMMENDER_URL",
            "RAPPORT_CONSOLE_INGEST_URL",
        }
        assert env["RAPPORT_CONSOLE_RECOMMENDER_URL"] == "http://rapport-recommender:8003"
        assert env["RAPPORT_CONSOLE_INGEST_URL"] == "http://rapport-ingest:8001"
    assert required - set(env) == set()
    assert env["RAPPORT_HOST"] == "0.0.0.0"
    assert env["RAPPORT_API_KEYS"]["secretKeyRef"]["name"] == "rapport-api-keys"
    assert env["KAFKA_SASL_PASSWORD"]["secretKeyRef"]["name"] == env["KAFKA_SASL_USERNAME"]
    if service in WITH_DATABASE:
        url = env["DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://")
        for helper in sorted(COMPOSITION_HELPERS):
            assert f"$({helper})" in url
        assert env["PG_USER"]["secretKeyRef"]["name"] == f"rapport-{service}-db-app"
        assert env["RAPPORT_CONSUMER_GROUP"] == f"rapport-{service}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_set_is_one_the_service_reads(
    built: dict[str, list[Resource]], service: str
) -> None:
    """A misspelt variable is ignored by pydantic-settings without a word: catch it here."""
    env = container_env(built["prod"], service_container(built["prod"], service))
    unknown = set(env) - read_by(service) - COMPOSITION_HELPERS
    assert unknown == set()


@pytest.mark.parametrize("service", SERVICES)
def test_settings_accept_the_manifests_values(
    built: dict[str, list[Resource]], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = container_env(built["prod"], service_container(built["prod"], service))
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "from-a-secret")
    monkeypatch.setenv("RAPPORT_API_KEYS", "[]")
    settings = SETTINGS[service]()
    assert settings.port == SERVICES[service]
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka.sasl_username == f"rapport-{service}"
    assert settings.kafka.ssl_cafile == "/etc/rapport/kafka-ca/ca.crt"
    mounts = {m["mountPath"] for m in service_container(built["prod"], service)["volumeMounts"]}
    assert "/etc/rapport/kafka-ca" in mounts


@pytest.mark.parametrize("service", SERVICES)
def test_ports_match_settings_and_service(built: dict[str, list[Resource]], service: str) -> None:
    resources = built["prod"]
    port = SETTINGS[service].model_fields["port"].default
    assert port == SERVICES[service]
    container = service_container(resources, service)
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert container_env(resources, container)["RAPPORT_PORT"] == str(port)
    (svc_port,) = named(resources, "Service", f"rapport-{service}")["spec"]["ports"]
    assert svc_port["targetPort"] == "http"
    policy = named(resources, "NetworkPolicy", f"rapport-{service}-ingress")
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": port, "protocol": "TCP"}]


async def answered(service: str, path: str) -> int:
    """The status the app answers on `path` (lifespan not run: no broker, no database)."""
    module: Any = __import__(f"rapport_{service}.api.app", fromlist=["build_app"])
    settings = SETTINGS[service]()
    app = module.build_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        response = await client.get(path)
    return response.status_code


@pytest.mark.parametrize("service", SERVICES)
async def test_probe_paths_exist_in_the_app(
    built: dict[str, list[Resource]], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dependencies that refuse at once: /readyz must answer 503, not hang.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://probe:probe@127.0.0.1:1/probe")
    container = service_container(built["prod"], service)
    probes = {
        kind: container[kind]["httpGet"]["path"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert await answered(service, "/healthz") == 200
    assert await answered(service, "/readyz") == 503  # its broker and database do not answer
    monitor = named(built["prod"], "ServiceMonitor", f"rapport-{service}")
    assert await answered(service, monitor["spec"]["endpoints"][0]["path"]) == 200
    assert await answered(service, "/no-such-probe") == 404  # the check can fail


def test_kafka_topics_are_the_contracts_topics(built: dict[str, list[Resource]]) -> None:
    for overlay, resources in built.items():
        declared = sorted(t["spec"]["topicName"] for t in of_kind(resources, "KafkaTopic"))
        assert declared == sorted(ALL_TOPICS), overlay


def test_kafka_users_have_least_privilege(built: dict[str, list[Resource]]) -> None:
    touchpoints, dlq, urgent, changes, offers = (
        "rapport.touchpoints.v1",
        "rapport.touchpoints.dlq.v1",
        "rapport.touchpoints.urgent.v1",
        "rapport.profile-changes.v1",
        "rapport.offers.v1",
    )
    assert set(ALL_TOPICS) == {touchpoints, dlq, urgent, changes, offers}
    grants: dict[str, set[tuple[str, str, str]]] = {}
    for user in of_kind(built["prod"], "KafkaUser"):
        grants[user["metadata"]["name"]] = {
            (acl["resource"]["type"], acl["resource"]["name"], operation)
            for acl in user["spec"]["authorization"]["acls"]
            for operation in acl["operations"]
            if operation != "Describe"  # metadata only: every client may see every topic
        }
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            # Topics by exact name; groups by the service's own prefix, because `replay`
            # reads in a fresh group named after it (rapport-profile-replay-<id>).
            if resource["type"] == "topic" or user["metadata"]["name"] == "rapport-keda":
                assert resource["patternType"] == "literal"
            else:
                assert (resource["patternType"], resource["name"]) == (
                    "prefix",
                    user["metadata"]["name"],
                )
    assert grants == {
        "rapport-ingest": {("topic", touchpoints, "Write"), ("topic", urgent, "Write")},
        "rapport-profile": {
            ("topic", touchpoints, "Read"),
            ("topic", changes, "Write"),
            ("topic", dlq, "Write"),
            ("group", "rapport-profile", "Read"),
        },
        "rapport-recommender": {
            ("topic", touchpoints, "Read"),
            ("topic", urgent, "Read"),
            ("topic", changes, "Read"),
            ("topic", offers, "Write"),
            ("topic", dlq, "Write"),
            ("group", "rapport-recommender", "Read"),
        },
        "rapport-keda": set(),
    }


def console_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for service in SERVICES:
        pyproject = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
        scripts |= pyproject["project"]["scripts"]
    return scripts


@pytest.mark.parametrize("service", WITH_DATABASE)
def test_migration_jobs_run_a_command_that_exists(
    built: dict[str, list[Resource]], service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"rapport-{service}" in console_scripts()
    job = named(built["prod"], "Job", f"rapport-{service}-migrate")
    (container,) = pod_spec(job)["containers"]
    assert container["args"] == ["migrate"]
    assert container["image"] == service_container(built["prod"], service)["image"]
    env = container_env(built["prod"], container)
    assert (
        env["DATABASE_URL"]
        == container_env(built["prod"], service_container(built["prod"], service))["DATABASE_URL"]
    )
    main: Any = __import__(f"rapport_{service}.__main__", fromlist=["main"]).main
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "migrate" in capsys.readouterr().out


async def test_the_clusters_kafka_settings_configure_every_client() -> None:
    """What the manifests set (SASL_SSL, SCRAM, the cluster CA) reaches producer, consumer and
    admin client alike; locally nothing changes (PLAINTEXT, no SASL)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    assert KafkaSettings().client_options() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    cluster = KafkaSettings(
        bootstrap_servers="rapport-kafka-kafka-bootstrap:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="rapport-profile",
        sasl_password="not-a-real-password",
        ssl_cafile=certifi.where(),  # any CA bundle: the cluster's is mounted in the pod
    )
    options = cluster.client_options()
    context = options["ssl_context"]
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert options["sasl_plain_password"] == "not-a-real-password"
    # Constructing checks the combination: SASL_SSL without the CA's context is refused.
    producer = AIOKafkaProducer(**options)
    consumer = AIOKafkaConsumer("rapport.touchpoints.v1", group_id="rapport-profile", **options)
    admin = AIOKafkaAdminClient(**options)
    await producer.stop()
    await consumer.stop()
    await admin.close()
    without_ca = {key: value for key, value in options.items() if key != "ssl_context"}
    with pytest.raises(ValueError, match="ssl_context"):
        AIOKafkaProducer(**without_ca)


def test_the_replay_job_is_the_profile_service_on_demand(
    built: dict[str, list[Resource]], capsys: pytest.CaptureFixture[str]
) -> None:
    for resources in built.values():
        cron = named(resources, "CronJob", "rapport-profile-replay")
        assert cron["spec"]["suspend"] is True  # only ever run by `kubectl create job --from`
        template = cron["spec"]["jobTemplate"]["spec"]["template"]
        (container,) = template["spec"]["containers"]
        assert container["args"] == ["replay", "--from-beginning"]
        service = service_container(resources, "profile")
        assert container["image"] == service["image"]
        assert container_env(resources, container) == container_env(resources, service)
        assert container["securityContext"] == service["securityContext"]
        labels = template["metadata"]["labels"]
        assert labels["rapport.io/kafka-client"] == "true"
        assert labels["rapport.io/db-client"] == "profile"
    main: Any = __import__("rapport_profile.__main__", fromlist=["main"]).main
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert "replay" in usage
    assert "--from-beginning" in usage


# Kafka clients built without the settings' connection options speak PLAINTEXT only and fail
# against the cluster's SASL_SSL listener: there must be none.
KNOWN_PLAINTEXT_ONLY: set[str] = set()


def test_every_kafka_client_takes_the_connection_options() -> None:
    client = re.compile(r"AIOKafka(?:Producer|Consumer|AdminClient)\((.*?)\)\n", re.S)
    sources = [*ROOT.glob("libs/events/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    calls = [
        (path.relative_to(ROOT).as_posix(), call)
        for path in sources
        for call in client.findall(path.read_text())
    ]
    assert len(calls) >= 3  # producer, consumer loop and admin in libs/events at least
    plaintext_only = {path for path, call in calls if "client_options()" not in call}
    assert plaintext_only == KNOWN_PLAINTEXT_ONLY


def test_the_work_deployment_is_the_recommender_without_its_fold(
    built: dict[str, list[Resource]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Same image, settings and credentials as the serving pods; only the command and the
    division of the background lanes differ: every lane runs in one of the two, the ordinary
    one at a lower CPU priority."""
    work_env, serving_env = _recommender_command_envs(built, "work")
    lanes = {"RAPPORT_ORDINARY_LANE_ENABLED", "RAPPORT_AT_ONCE_LANE_ENABLED", "RAPPORT_NICENESS"}
    assert {k: v for k, v in work_env.items() if k not in lanes} == {
        k: v for k, v in serving_env.items() if k not in lanes
    }
    assert {k: v for k, v in serving_env.items() if k in lanes} == {
        "RAPPORT_ORDINARY_LANE_ENABLED": "false"
    }
    assert {k: v for k, v in work_env.items() if k in lanes} == {
        "RAPPORT_AT_ONCE_LANE_ENABLED": "false",
        "RAPPORT_NICENESS": "10",
    }
    assert "work" in _recommender_help(capsys)


def test_the_express_deployment_is_the_recommender_folding_only_complaints_and_consents(
    built: dict[str, list[Resource]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Same image, settings and credentials as the serving pods; the command chooses what it
    folds, and it does no ordinary re-ranking; it has its own consumer group, under the
    recommender's KafkaUser's group prefix."""
    express_env, serving_env = _recommender_command_envs(built, "express")
    assert express_env == {
        k: v for k, v in serving_env.items() if k != "RAPPORT_ORDINARY_LANE_ENABLED"
    }
    user = named(built["prod"], "KafkaUser", "rapport-recommender")
    groups = [
        acl["resource"]
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == "group" and "Read" in acl["operations"]
    ]
    from rapport_recommender.settings import RecommenderSettings

    group = RecommenderSettings().express_group
    assert any(g["patternType"] == "prefix" and group.startswith(g["name"]) for g in groups), groups
    assert "express" in _recommender_help(capsys)


def _recommender_help(capsys: pytest.CaptureFixture[str]) -> str:
    """What `rapport-recommender --help` prints: the commands the Deployments may run."""
    from rapport_recommender.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _recommender_command_envs(
    built: dict[str, list[Resource]], command: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of `rapport-recommender-<command>` and of the serving pods, having
    checked that the former runs that command on the serving pods' image."""
    deployment = named(built["prod"], "Deployment", f"rapport-recommender-{command}")
    (container,) = pod_spec(deployment)["containers"]
    serving = service_container(built["prod"], "recommender")
    assert container["args"] == [command]
    assert container["image"] == serving["image"]
    return container_env(built["prod"], container), container_env(built["prod"], serving)


def _selects(selector: Resource, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and In/NotIn/Exists expressions) picks `labels`."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for rule in selector.get("matchExpressions", []):
        key, operator, values = rule["key"], rule["operator"], rule.get("values", [])
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not held:
            return False
    return True


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_deployment_is_scraped(built: dict[str, list[Resource]], overlay: str) -> None:
    """Prometheus reaches every Deployment's /metrics: through a ServiceMonitor's Service or a
    PodMonitor, on a port the pod declares."""
    resources = built[overlay]
    services = list(of_kind(resources, "Service"))
    for deployment in of_kind(resources, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        ports = {p["name"] for c in pod_spec(deployment)["containers"] for p in c.get("ports", [])}
        scraped = [
            monitor["metadata"]["name"]
            for monitor in of_kind(resources, "PodMonitor")
            if _selects(monitor["spec"]["selector"], labels)
            and all(e["port"] in ports for e in monitor["spec"]["podMetricsEndpoints"])
        ]
        for monitor in of_kind(resources, "ServiceMonitor"):
            for service in services:
                if (
                    _selects(monitor["spec"]["selector"], service["metadata"].get("labels", {}))
                    and _selects({"matchLabels": service["spec"].get("selector", {})}, labels)
                    and service["spec"].get("selector")
                ):
                    scraped.append(monitor["metadata"]["name"])
        assert scraped, f"{deployment['metadata']['name']}: no ServiceMonitor or PodMonitor"
