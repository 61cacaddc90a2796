"""The Helm chart: lints, renders with the default and the CI values, every manifest is a
valid Kubernetes object, every workload follows the security, resource, probe and label
policy, and the values schema refuses what it should."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.chart import (
    CHART,
    KUBE_VERSION,
    pod_labels,
    pod_spec,
    rendered,
    run_helm,
    template,
    workloads,
)

CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
VALUE_SETS: list[tuple[Path, ...]] = [(), *[(f,) for f in CI_VALUES]]
IDS = ["defaults", *[f.stem for f in CI_VALUES]]
BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))
LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
CONSUMERS = ("error-decoder", "notifier", "query-projector")
SECRET_ENV = re.compile(r"KEY|PASSWORD|DATABASE_URL")
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def test_there_are_at_least_two_ci_value_files() -> None:
    assert {f.stem for f in CI_VALUES} >= {"production-values", "minimal-values"}


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_chart_lints_clean(values: tuple[Path, ...]) -> None:
    args = ["lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION]
    for f in values:
        args += ["-f", str(f)]
    result = run_helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_every_rendered_manifest_is_a_valid_kubernetes_object(values: tuple[Path, ...]) -> None:
    for manifest in rendered(*values):
        if manifest["kind"] in CRD_KINDS:
            assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
            assert manifest["spec"], manifest["metadata"]["name"]
            continue
        try:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{manifest['kind']}/{manifest['metadata']['name']}: {where}: {exc.message}"
            )


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_every_workload_runs_hardened_as_non_root(values: tuple[Path, ...]) -> None:
    for w in workloads(rendered(*values)):
        name = f"{w['kind']}/{w['metadata']['name']}"
        pod = pod_spec(w)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        tmp = [v for v in pod["volumes"] if v["name"] == "tmp"] if "volumes" in pod else []
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            if w["kind"] != "Pod":  # the test pod writes nothing
                assert tmp and "emptyDir" in tmp[0], f"{name}: /tmp must be an emptyDir"
                assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], name


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_every_container_has_requests_and_limits(values: tuple[Path, ...]) -> None:
    for w in workloads(rendered(*values)):
        for c in pod_spec(w)["containers"]:
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) >= {"cpu", "memory"}, w["metadata"]["name"]


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_every_image_is_pinned_never_latest(values: tuple[Path, ...]) -> None:
    for w in workloads(rendered(*values)):
        for c in pod_spec(w)["containers"]:
            image = c["image"]
            assert "@sha256:" in image or re.search(r":[A-Za-z0-9_][A-Za-z0-9_.-]*$", image), image
            assert not image.endswith(":latest"), image


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_every_deployment_is_probed_on_health_and_ready(values: tuple[Path, ...]) -> None:
    deployments = [m for m in rendered(*values) if m["kind"] == "Deployment"]
    assert len(deployments) == 5
    for d in deployments:
        (c,) = pod_spec(d)["containers"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/health", d["metadata"]["name"]
        assert c["startupProbe"]["httpGet"]["path"] == "/health", d["metadata"]["name"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready", d["metadata"]["name"]
        assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in c["ports"]


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_every_object_carries_the_standard_labels(values: tuple[Path, ...]) -> None:
    for m in rendered(*values):
        assert set(m["metadata"]["labels"]) >= set(LABELS), f"{m['kind']}/{m['metadata']['name']}"
    for w in workloads(rendered(*values)):
        assert set(pod_labels(w)) >= set(LABELS), w["metadata"]["name"]
        if w["kind"] == "Deployment":
            selector = w["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pod_labels(w).items(), w["metadata"]["name"]


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_processes_run_in_production_profile_with_secrets_from_secrets(
    values: tuple[Path, ...],
) -> None:
    for w in workloads(rendered(*values)):
        if w["kind"] == "Pod":
            continue
        (c,) = pod_spec(w)["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["BATTERYHUB_PROFILE"]["value"] == "production", w["metadata"]["name"]
        for name, e in env.items():
            if SECRET_ENV.search(name) and name != "SSL_CERT_FILE":
                assert "secretKeyRef" in e.get("valueFrom", {}), f"{name} must come from a Secret"


def _deployment(manifests: tuple[dict[str, Any], ...], component: str) -> dict[str, Any]:
    (found,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment"
        and m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return found


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    (c,) = pod_spec(deployment)["containers"]
    return {e["name"]: e for e in c["env"]}


def test_each_process_gets_only_the_secrets_it_needs() -> None:
    manifests = rendered()
    secrets = {
        component: {
            n for n, e in _env(_deployment(manifests, component)).items() if "valueFrom" in e
        }
        for component in ("webhook-gateway", "query-api", "error-decoder", "notifier")
    }
    assert secrets["webhook-gateway"] == {
        "BATTERYHUB_BATTERY_TOKEN_KEY",
        "BATTERYHUB_USER_TOKEN_KEY",
    }
    assert secrets["query-api"] == {
        "BATTERYHUB_DATABASE_URL",
        "BATTERYHUB_USER_TOKEN_KEY",
        "BATTERYHUB_ADMIN_PASSWORD",
    }
    assert secrets["error-decoder"] == set()
    assert secrets["notifier"] == {"BATTERYHUB_DATABASE_URL"}


def test_the_gateway_gets_its_upload_admission_from_values() -> None:
    env = _env(_deployment(rendered(), "webhook-gateway"))
    assert env["BATTERYHUB_UPLOAD_SLOTS"]["value"] == "8"
    assert env["BATTERYHUB_UPLOAD_QUEUE"]["value"] == "32"
    assert env["BATTERYHUB_UPLOAD_WAIT_S"]["value"] == "2"


def test_every_service_compresses_as_the_values_say(tmp_path: Path) -> None:
    """zstd by default; ``kafka.compression`` names another codec, or none."""
    values = tmp_path / "uncompressed.yaml"
    values.write_text("kafka: {compression: none}\n")
    for manifests, codec in ((rendered(), "zstd"), (rendered(values), "none")):
        for component in (*CONSUMERS, "webhook-gateway", "query-api"):
            env = _env(_deployment(manifests, component))
            assert env["BATTERYHUB_PRODUCE_COMPRESSION"]["value"] == codec, component


def test_consumer_groups_follow_the_topic_prefix_unless_values_name_them(tmp_path: Path) -> None:
    """No group id by default (each service names its group under the topic prefix); a
    component's groupId is passed on as it is."""
    for component in CONSUMERS:
        env = _env(_deployment(rendered(), component))
        assert not {"BATTERYHUB_GROUP_ID", "BATTERYHUB_PROJECTOR_GROUP_ID"} & set(env)
    values = tmp_path / "groups.yaml"
    values.write_text(
        "errorDecoder: {groupId: decoder-blue}\n"
        "notifier: {groupId: notifier-blue}\n"
        "queryProjector: {groupId: projector-rebuild}\n"
    )
    manifests = rendered(values)
    assert _env(_deployment(manifests, "error-decoder"))["BATTERYHUB_GROUP_ID"]["value"] == (
        "decoder-blue"
    )
    assert _env(_deployment(manifests, "notifier"))["BATTERYHUB_GROUP_ID"]["value"] == (
        "notifier-blue"
    )
    projector = _env(_deployment(manifests, "query-projector"))
    assert projector["BATTERYHUB_PROJECTOR_GROUP_ID"]["value"] == "projector-rebuild"
    # Two services in one group would each process only some of its partitions: refused.
    result = template(extra=("--set", "errorDecoder.groupId=notifier"))
    assert result.returncode != 0
    assert 'errorDecoder and notifier would both join the consumer group "notifier"' in (
        result.stderr
    )
    result = template(
        extra=("--set", "topics.prefix=p.", "--set", "queryProjector.groupId=p.notifier")
    )
    assert result.returncode != 0
    assert 'notifier and queryProjector would both join the consumer group "p.notifier"' in (
        result.stderr
    )


def test_production_values_use_the_existing_secret_sasl_ssl_and_tls() -> None:
    manifests = rendered(CHART / "ci" / "production-values.yaml")
    assert not [m for m in manifests if m["kind"] == "Secret"], "existingSecret: no chart Secret"
    env = _env(_deployment(manifests, "notifier"))
    assert env["BATTERYHUB_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["BATTERYHUB_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
    assert env["BATTERYHUB_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "battery-hub-credentials",
        "key": "kafka-sasl-password",
    }
    assert env["SSL_CERT_FILE"]["value"] == "/etc/battery-hub/kafka-ca/ca.crt"
    (ingress,) = [m for m in manifests if m["kind"] == "Ingress"]
    assert ingress["spec"]["tls"][0]["secretName"] == "battery-hub-tls"
    assert {r["host"] for r in ingress["spec"]["rules"]} == {
        "ingest.example.com",
        "api.example.com",
    }
    jobs = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]
        for m in manifests
        if m["kind"] == "Job"
    }
    assert jobs == {"migrate-notifier", "migrate-query"}, "topics are managed by the operator"
    images = {c["image"] for w in workloads(manifests) for c in pod_spec(w)["containers"]}
    assert all("@sha256:" in i for i in images)


def test_migrations_and_topics_run_as_hooks_before_the_rollout() -> None:
    manifests = rendered()
    hooks = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]: m["metadata"]["annotations"]
        for m in manifests
        if m["kind"] in ("Job", "Secret")
    }
    assert set(hooks) == {"topics", "migrate-notifier", "migrate-query", "config"}
    for hook in hooks.values():
        assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    weights = {k: int(v["helm.sh/hook-weight"]) for k, v in hooks.items()}
    assert weights["config"] < weights["topics"] < weights["migrate-query"]
    commands = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]: pod_spec(m)["containers"][0][
            "command"
        ]
        for m in manifests
        if m["kind"] == "Job"
    }
    assert commands["topics"][:3] == ["python", "-m", "batteryhub_platform.topics_cli"]
    assert commands["migrate-notifier"] == ["python", "-m", "notifier.entrypoints.migrate"]
    assert commands["migrate-query"] == ["python", "-m", "query_api.entrypoints.migrate"]


def test_helm_test_pod_asks_every_service_for_ready() -> None:
    (pod,) = [m for m in rendered() if m["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    urls = [a for a in pod["spec"]["containers"][0]["command"] if a.startswith("http://")]
    assert len(urls) == 5 and all(u.endswith("/ready") for u in urls)


def test_consumers_never_outnumber_partitions() -> None:
    for values in VALUE_SETS:
        manifests = rendered(*values)
        for component in CONSUMERS:
            replicas = _deployment(manifests, component)["spec"]["replicas"]
            partitions = 12 if values and "production" in values[0].name else 6
            partitions = 1 if values and "minimal" in values[0].name else partitions
            assert replicas <= partitions
    result = template(extra=("--set", "notifier.replicaCount=7"))
    assert result.returncode != 0
    assert "notifier.replicaCount (7) exceeds topics.partitions (6)" in result.stderr


def test_grafana_dashboard_shows_the_services_metrics() -> None:
    manifests = rendered(CHART / "ci" / "production-values.yaml")
    (dashboard,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    text = dashboard["data"]["battery-hub.json"]
    for metric in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "gateway_readings_accepted_total",
        "gateway_readings_refused_total",
        "gateway_produce_seconds_bucket",
        "gateway_broker_unavailable_total",
        "gateway_uploads_shed_total",
        "gateway_battery_logins_total",
        "consumer_messages_total",
        "consumer_lag",
        "consumer_batch_seconds_bucket",
        "consumer_retries_total",
        "dead_letters_total",
        "notifications_raised_total",
        "notifications_suppressed_total",
        "notifications_republished_total",
    ):
        assert metric in text, metric


@pytest.mark.parametrize("bad", BAD_VALUES, ids=[f.stem for f in BAD_VALUES])
def test_schema_refuses_bad_values(bad: Path) -> None:
    result = template(bad)
    assert result.returncode != 0, f"{bad.name} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


def test_there_are_bad_values_to_refuse() -> None:
    assert len(BAD_VALUES) >= 10
