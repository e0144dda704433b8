"""The Helm chart rendered for real (the Helm SDK, offline) with each values file in helm/linli/ci/, and
every manifest validated against the Kubernetes schemas of a current release (kubernetes-validate ships
them). A broken template, an invalid manifest or a values file the schema refuses fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "linli"
VALUES_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBERNETES_VERSION = "1.34"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}
HTTP_COMPONENTS = {"api", "ingest-http"}
LONG_RUNNING = {"api", "ingest-http", "worker", "ingest"}


@pytest.fixture(scope="module")
def chart() -> Any:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def values_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


def render(chart: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every manifest the release would create, hooks included."""
    rendered = chart.render(values=values, name="linli", namespace="linli")
    return [
        document
        for path, text in sorted(rendered.items())
        if path.endswith((".yaml", ".yml"))
        for document in yaml.safe_load_all(text)
        if document
    ]


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["labels"].get("app.kubernetes.io/component", ""): m for m in manifests if m["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def component(workload: dict[str, Any]) -> str:
    return str(workload["metadata"]["labels"]["app.kubernetes.io/component"])


def test_there_are_default_production_and_external_values_files() -> None:
    assert {path.name for path in VALUES_FILES} >= {
        "default-values.yaml",
        "production-values.yaml",
        "external-services-values.yaml",
    }


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda path: path.stem)
def test_every_manifest_is_valid_kubernetes(chart: Any, values_file: Path) -> None:
    manifests = render(chart, yaml.safe_load(values_file.read_text()))
    assert any(m["kind"] == "Deployment" for m in manifests)
    for manifest in manifests:
        # strict: unknown fields (a mis-indented key) are errors, as `kubectl apply` rejects them.
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda path: path.stem)
def test_helm_lint_finds_no_warnings(values_file: Path) -> None:
    report = helm.lint(CHART, yaml.safe_load(values_file.read_text()), strict=True, kube_version=KUBERNETES_VERSION)
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    assert report["errors"] == []


@pytest.mark.parametrize("name", ["default", "production"])
def test_every_workload_is_bounded_probed_and_unprivileged(chart: Any, name: str) -> None:
    workloads = [m for m in render(chart, values_of(name)) if m["kind"] in WORKLOAD_KINDS]
    assert {component(w) for w in workloads} >= LONG_RUNNING | {"migrate"}
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, component(workload)
        for container in spec["containers"]:
            assert container["resources"]["requests"].keys() >= {"cpu", "memory"}, component(workload)
            assert "memory" in container["resources"]["limits"], component(workload)
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            if component(workload) in HTTP_COMPONENTS:
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_production_autoscales_api_and_worker_and_bounds_disruptions(chart: Any) -> None:
    manifests = render(chart, values_of("production"))
    deployments = by_kind(manifests, "Deployment")
    autoscalers = by_kind(manifests, "HorizontalPodAutoscaler")
    assert autoscalers.keys() == {"api", "worker"}
    for name, autoscaler in autoscalers.items():
        assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployments[name]["metadata"]["name"]
        # The HPA owns the replica count: a `replicas` in the Deployment would reset it on every upgrade.
        assert "replicas" not in deployments[name]["spec"]
    assert deployments["ingest-http"]["spec"]["replicas"] == 2

    workloads = {component(m): m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}}
    budgets = by_kind(manifests, "PodDisruptionBudget")
    assert budgets.keys() == LONG_RUNNING
    for name, budget in budgets.items():
        pod_labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert budget["spec"]["maxUnavailable"] == 1


def egress_ports(policy: dict[str, Any]) -> set[int]:
    return {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}


def test_network_policies_admit_only_the_ingress_and_needed_services(chart: Any) -> None:
    values = values_of("external-services")
    manifests = render(chart, values)
    policies = by_kind(manifests, "NetworkPolicy")
    assert policies.keys() == LONG_RUNNING | {"migrate", "backup"}
    controller = values["networkPolicy"]["ingressController"]
    for name in HTTP_COMPONENTS:
        (rule,) = policies[name]["spec"]["ingress"]
        assert rule["from"] == [controller]
        assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    for name in {"worker", "ingest", "migrate", "backup"}:
        assert policies[name]["spec"]["ingress"] in (None, [])
    for name in LONG_RUNNING:
        assert egress_ports(policies[name]) == {53, 5432, 6380, 8883}
    # The jobs reach the database and nothing else (no Redis, no broker).
    for name in {"migrate", "backup"}:
        assert egress_ports(policies[name]) == {53, 5432}
    database_rule = next(r for r in policies["migrate"]["spec"]["egress"] if r["ports"][0]["port"] == 5432)
    assert database_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/24"}}]


def test_network_policies_admit_prometheus_scrapes_on_the_metrics_ports(chart: Any) -> None:
    values = values_of("production")
    policies = by_kind(render(chart, values), "NetworkPolicy")
    prometheus = values["networkPolicy"]["prometheus"]
    scraped = {
        name: rule["ports"][0]["port"]
        for name, policy in policies.items()
        for rule in policy["spec"]["ingress"] or []
        if rule["from"] == [prometheus]
    }
    assert scraped == {"api": 8000, "ingest-http": 8000, "worker": 9100, "ingest": 9100}


def test_network_policies_add_the_notification_egress_of_each_workload(chart: Any) -> None:
    values = values_of("production")
    policies = by_kind(render(chart, values), "NetworkPolicy")
    extra = values["networkPolicy"]["extraEgress"]
    for name in ("api", "worker"):
        assert policies[name]["spec"]["egress"][-len(extra[name]) :] == extra[name]
    assert egress_ports(policies["ingest"]) == {53, 5432, 6379, 1883}


def test_network_policies_refuse_to_render_without_the_ingress_controller(chart: Any) -> None:
    values = values_of("default") | {"networkPolicy": {"enabled": True}}
    with pytest.raises(helm.HelmRenderError, match=re.escape("networkPolicy.ingressController is required")):
        chart.render(values=values, name="linli", namespace="linli")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"api": {"replicas": "two"}}, "'/api/replicas': got string, want integer"),
        ({"settings": {"env": "prod"}}, "'/settings/env': value must be one of 'production'"),
        ({"autoscaling": {"api": {"enabled": True, "maxReplicas": 0}}}, "'/autoscaling/api/maxReplicas': minimum"),
        ({"networkPolicy": {"database": {"cidrs": ["db.internal"]}}}, "'/networkPolicy/database/cidrs/0'"),
        ({"networkPolicy": {"databse": {}}}, "'/networkPolicy': additional properties 'databse' not allowed"),
    ],
)
def test_the_schema_rejects_wrong_values_with_a_clear_message(
    chart: Any, override: dict[str, Any], message: str
) -> None:
    values = values_of("default") | override  # the SDK coalesces these with the chart's defaults
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        chart.render(values=values, name="linli", namespace="linli")


def test_the_api_secret_carries_the_read_replica_url_only_when_given(chart: Any) -> None:
    values = values_of("default")
    assert "LINLI_DATABASE_READ_URL" not in by_kind(render(chart, values), "Secret")["api"]["stringData"]
    replica = "postgresql+psycopg://linli_api:ci@linli-db-ro:5432/linli"
    values["secrets"]["databaseReadUrl"] = replica
    api_secret = by_kind(render(chart, values), "Secret")["api"]["stringData"]
    assert api_secret["LINLI_DATABASE_READ_URL"] == replica
