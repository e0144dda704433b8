"""The Helm chart rendered for real (the Helm SDK, offline) with each values file in helm/linli/ci/, in a
cluster that has the Prometheus operator, and every manifest validated: the Kubernetes kinds against the
schemas of a current release (kubernetes-validate ships them), the operator's ServiceMonitor and
PrometheusRule against its CRDs (the typed models of cloudcoil-models-prometheus-operator). A broken
template, an invalid manifest or a values file the schema refuses fails here; so does an alert rule or a
dashboard panel naming a series, a label or a job that linli/platform/metrics.py and the worker do not have."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python as helm
import kubernetes_validate
import promql_parser
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as prometheus_operator
from helm_python import _native
from prometheus_client.metrics import MetricWrapperBase

from linli import wiring
from linli.platform import metrics
from linli.platform.probes import write_heartbeat
from tests.platform.test_probes import probe

CHART = Path(__file__).resolve().parents[2] / "helm" / "linli"
VALUES_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBERNETES_VERSION = "1.34"
OPERATOR_API = "monitoring.coreos.com/v1"
OPERATOR_KINDS = {
    "ServiceMonitor": prometheus_operator.ServiceMonitor,
    "PrometheusRule": prometheus_operator.PrometheusRule,
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}
HTTP_COMPONENTS = {"api", "ingest-http"}
EXEC_PROBED = {"worker", "ingest"}
LONG_RUNNING = HTTP_COMPONENTS | EXEC_PROBED


@pytest.fixture(scope="module")
def chart() -> Any:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def values_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


def render(chart: Any, values: dict[str, Any], *, operator: bool = True) -> list[dict[str, Any]]:
    """Every manifest the release would create, hooks included, in a cluster with the Prometheus operator
    (as `helm template --api-versions monitoring.coreos.com/v1`) unless `operator` is False. The SDK's
    `Chart.render` has no API-versions option; the library call under it has."""
    options = {"name": "linli", "namespace": "linli"} | ({"api_versions": [OPERATOR_API]} if operator else {})
    rendered = json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options)))
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


def validate(manifest: dict[str, Any]) -> None:
    """Strict, as `kubectl apply` is: an unknown field (a mis-indented key) is an error. For the operator's
    kinds the typed model checks types, patterns and required fields; a field it does not know (which the
    API server would silently prune) is lost on the way back, so the round trip must give the manifest."""
    model = OPERATOR_KINDS.get(manifest["kind"])
    if model is None:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        return
    parsed = model.model_validate(manifest)
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == manifest, manifest["kind"]


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda path: path.stem)
def test_every_manifest_is_valid_kubernetes(chart: Any, values_file: Path) -> None:
    manifests = render(chart, yaml.safe_load(values_file.read_text()))
    assert any(m["kind"] == "Deployment" for m in manifests)
    for manifest in manifests:
        validate(manifest)


def test_the_monitoring_file_renders_every_operator_object(chart: Any) -> None:
    kinds = [m["kind"] for m in render(chart, values_of("monitoring"))]
    assert kinds.count("ServiceMonitor") == kinds.count("PrometheusRule") == 1


def test_the_operator_objects_are_checked_field_by_field(chart: Any) -> None:
    (monitor,) = [m for m in render(chart, values_of("monitoring")) if m["kind"] == "ServiceMonitor"]
    validate(monitor)
    misspelt = json.loads(json.dumps(monitor))
    misspelt["spec"]["endpoints"][0]["pathh"] = misspelt["spec"]["endpoints"][0].pop("path")
    with pytest.raises(AssertionError):
        validate(misspelt)
    wrong = json.loads(json.dumps(monitor))
    wrong["spec"]["endpoints"][0]["interval"] = "30 seconds"
    with pytest.raises(ValueError, match="interval"):
        validate(wrong)


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
            elif component(workload) in EXEC_PROBED:
                alive = ["linli", "health", component(workload)]
                assert container["startupProbe"]["exec"]["command"] == alive
                assert container["livenessProbe"]["exec"]["command"] == alive
                assert container["readinessProbe"]["exec"]["command"] == [*alive, "--ready"]


def probe_command(container: dict[str, Any], kind: str) -> list[str]:
    command: list[str] = container[kind]["exec"]["command"]
    assert command[:2] == ["linli", "health"]  # the image's entry point, on its PATH
    return command[2:]


def test_the_worker_and_ingest_probes_fail_while_nothing_reports(chart: Any, tmp_path: Path) -> None:
    """The rendered probe commands, run here: with no worker loop on this host and no ingest heartbeat
    every one of them fails (tests/platform/test_probes.py and tests/iot/test_consumer.py show them pass
    while the loops run)."""
    manifests = render(chart, values_of("production"))
    workloads = {component(m): m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}}
    for name in EXEC_PROBED:
        (container,) = pod_spec(workloads[name])["containers"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            done = probe(*probe_command(container, kind), LINLI_HEALTH_FILE=str(tmp_path / "none.json"))
            assert done.returncode == 1, (name, kind, done.stdout, done.stderr)


def test_the_ingest_heartbeat_lies_on_a_writable_volume_and_its_probes_read_it(chart: Any, tmp_path: Path) -> None:
    manifests = render(chart, values_of("production"))
    (ingest,) = [m for m in manifests if m["kind"] == "StatefulSet"]
    (container,) = pod_spec(ingest)["containers"]
    heartbeat = PurePosixPath(next(e["value"] for e in container["env"] if e["name"] == "LINLI_HEALTH_FILE"))
    # The root filesystem is read-only: the heartbeat must be on a mounted emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(ingest)["volumes"]}
    (mount,) = [path for path in mounts if heartbeat.is_relative_to(path)]
    assert "emptyDir" in volumes[mounts[mount]]
    local = tmp_path / heartbeat.name
    write_heartbeat(local, ready=True)
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        done = probe(*probe_command(container, kind), LINLI_HEALTH_FILE=str(local))
        assert done.returncode == 0, (kind, done.stderr)


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
        ({"metrics": {"serviceMonitr": {}}}, "'/metrics': additional properties 'serviceMonitr' not allowed"),
        ({"storage": {"backend": "nfs"}}, "'/storage/backend': value must be one of 'local', 's3'"),
    ],
)
def test_the_schema_rejects_wrong_values_with_a_clear_message(
    chart: Any, override: dict[str, Any], message: str
) -> None:
    values = values_of("default") | override  # the SDK coalesces these with the chart's defaults
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        chart.render(values=values, name="linli", namespace="linli")


PER_POD_VOLUME = "at '/storage': 'anyOf' failed"


@pytest.mark.parametrize(
    ("override", "refused"),
    [
        ({"api": {"replicas": 2}}, True),
        ({"api": {"replicas": 1}, "autoscaling": {"api": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}}}, True),
        ({"api": {"replicas": 1}}, False),
        ({"api": {"replicas": 3}, "storage": {"backend": "local", "existingClaim": "linli-attachments"}}, False),
    ],
)
def test_the_schema_refuses_a_per_pod_attachment_volume_behind_several_api_pods(
    chart: Any, override: dict[str, Any], refused: bool
) -> None:
    """storage.backend local without a claim is an emptyDir per pod: a photo uploaded to one API pod would
    be missing on the others. One pod may keep it; several (or an autoscaler that may add them) need the
    bucket or a shared claim."""
    values = values_of("default") | {"storage": {"backend": "local", "existingClaim": ""}} | override
    if not refused:
        assert render(chart, values)
        return
    with pytest.raises(helm.HelmValuesError) as raised:
        render(chart, values)
    assert PER_POD_VOLUME in str(raised.value)
    assert "'/storage/backend': value must be 's3'" in str(raised.value)
    assert "'/storage/existingClaim': minLength: got 0, want 1" in str(raised.value)


@pytest.mark.parametrize(
    ("env", "redis_url", "refused"),
    [
        ("production", "redis://linli-redis:6379/0", True),
        ("production", "redis://linli@linli-redis:6379/0", True),
        ("production", "redis://:ci-redis-password@linli-redis:6379/0", False),
        ("production", "rediss://linli:ci-redis-password@linli-redis:6380/0", False),
        ("development", "redis://linli-redis:6379/0", False),
    ],
)
def test_the_schema_refuses_redis_without_a_password_in_production(
    chart: Any, env: str, redis_url: str, refused: bool
) -> None:
    values = values_of("default")
    values["settings"] = {"env": env}
    values["secrets"]["redisUrl"] = redis_url
    if not refused:
        assert render(chart, values)
        return
    message = f"'/secrets/redisUrl': '{redis_url}' does not match pattern"
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        render(chart, values)


def test_the_api_secret_carries_the_read_replica_url_only_when_given(chart: Any) -> None:
    values = values_of("default")
    assert "LINLI_DATABASE_READ_URL" not in by_kind(render(chart, values), "Secret")["api"]["stringData"]
    replica = "postgresql+psycopg://linli_api:ci@linli-db-ro:5432/linli"
    values["secrets"]["databaseReadUrl"] = replica
    api_secret = by_kind(render(chart, values), "Secret")["api"]["stringData"]
    assert api_secret["LINLI_DATABASE_READ_URL"] == replica


# ---------------------------------------------------------------- monitoring: ServiceMonitor, rules, dashboard


def test_the_operator_objects_render_only_where_the_operator_is(chart: Any) -> None:
    values = values_of("monitoring")
    without = {m["kind"] for m in render(chart, values, operator=False)}
    assert not without & OPERATOR_KINDS.keys()
    dashboards = [m for m in render(chart, values, operator=False) if m["metadata"]["name"] == "linli-dashboard"]
    assert [m["metadata"]["labels"]["linli_dashboards"] for m in dashboards] == ["1"]
    values["metrics"] |= {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}}
    assert not {m["kind"] for m in render(chart, values)} & OPERATOR_KINDS.keys()


def test_the_service_monitor_scrapes_every_metrics_port_with_the_token_its_pods_hold(chart: Any) -> None:
    values = values_of("monitoring")
    manifests = render(chart, values)
    (monitor,) = [m for m in manifests if m["kind"] == "ServiceMonitor"]
    secrets = {m["metadata"]["name"]: m["stringData"] for m in manifests if m["kind"] == "Secret"}
    (config,) = [m["data"] for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "linli"]
    workloads = {component(m): m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}}
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    services = [m for m in manifests if m["kind"] == "Service" and selector <= m["metadata"]["labels"].items()]
    token = values["secrets"]["metricsToken"]
    scraped: set[str] = set()
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
        for service in services:
            ports = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
            if not ports:
                continue
            name = component(service)
            scraped.add(name)
            (container,) = pod_spec(workloads[name])["containers"]
            loaded: dict[str, str] = {}
            for source in container["envFrom"]:
                loaded |= secrets.get(source.get("secretRef", {}).get("name"), {})
            if name in HTTP_COMPONENTS:
                # `linli serve` answers /metrics only with the token the ServiceMonitor sends.
                credentials = endpoint["authorization"]["credentials"]
                assert secrets[credentials["name"]][credentials["key"]] == token
                assert loaded.get("LINLI_METRICS_TOKEN") == token, name
                assert ports[0]["targetPort"] == "http"
            else:
                # Worker and ingest serve theirs on LINLI_METRICS_PORT, without a token.
                assert "authorization" not in endpoint
                assert ports[0]["port"] == int(config["LINLI_METRICS_PORT"]) == values["metrics"]["port"]
    assert scraped == LONG_RUNNING


def test_the_service_monitor_refuses_production_without_a_metrics_token(chart: Any) -> None:
    values = values_of("monitoring")
    del values["secrets"]["metricsToken"]
    with pytest.raises(helm.HelmRenderError, match=re.escape("metrics.serviceMonitor needs secrets.metricsToken")):
        render(chart, values)


SERIES_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
# Series the chart reads from elsewhere: postgres-exporter's (database connections).
EXTERNAL_SERIES = {"pg_stat_activity_count", "pg_settings_max_connections"}
# Grafana's own interval variables, which PromQL does not know.
GRAFANA_VARIABLES = re.compile(r"\$__(rate_interval|interval|range)")


def exported_series() -> dict[str, set[str]]:
    """Every series linli/platform/metrics.py defines, with its label names."""
    series: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            (family,) = value.describe()
            labels = set(value._labelnames)
            for suffix in SERIES_SUFFIXES[family.type]:
                series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def job_names() -> set[str]:
    """What `linli_jobs_total{function=...}` can say: the worker's functions and cron jobs."""
    return {f.__name__ for f in wiring.JOB_FUNCTIONS} | {c.coroutine.__name__ for c in wiring.CRON_JOBS}


def unknown_names(expression: str) -> list[str]:
    """What an expression names that the app does not export (it must parse as PromQL first)."""
    selectors: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)

    promql_parser.walk(promql_parser.parse(GRAFANA_VARIABLES.sub("5m", expression)), visit)
    series, jobs, problems = exported_series(), job_names(), []
    for selector in selectors:
        if selector.name in EXTERNAL_SERIES:
            continue
        if selector.name not in series:
            problems.append(f"{selector.name} is not exported")
            continue
        for matcher in selector.matchers.matchers:
            if matcher.name not in series[selector.name]:
                problems.append(f"{selector.name} has no label {matcher.name}")
            elif matcher.name == "function" and matcher.op == promql_parser.MatchOp.Equal and matcher.value not in jobs:
                problems.append(f"no job {matcher.value}")
    return problems


def test_the_series_check_catches_misspelt_series_labels_jobs_and_broken_promql() -> None:
    assert "linli_ingest_readings_stored_total" in exported_series()
    assert exported_series()["linli_ingest_batch_duration_seconds_bucket"] == {"le"}
    assert unknown_names("sum(rate(linli_ingest_readings_stored_total[$__rate_interval]))") == []
    assert unknown_names("rate(linli_ingest_readings_stord_total[5m])") == [
        "linli_ingest_readings_stord_total is not exported"
    ]
    assert unknown_names('linli_http_request_duration_seconds_count{staus_class="5xx"}') == [
        "linli_http_request_duration_seconds_count has no label staus_class"
    ]
    assert unknown_names('linli_jobs_total{function="events_sweep_deadline"}') == ["no job events_sweep_deadline"]
    with pytest.raises(ValueError):
        unknown_names("sum(rate(linli_ingest_readings_stored_total[5m])")


def test_the_alert_rules_watch_what_operators_need_on_exported_series(chart: Any) -> None:
    (rule_object,) = [m for m in render(chart, values_of("monitoring")) if m["kind"] == "PrometheusRule"]
    rules = [rule for group in rule_object["spec"]["groups"] for rule in group["rules"]]
    alerts = {rule["alert"]: rule for rule in rules}
    assert len(alerts) == len(rules)
    assert {
        "LinliIngestStalled",
        "LinliDeadlineSweepNotRunning",
        "LinliDeadLettersSurging",
        "LinliDatabaseConnectionsSaturated",
    } <= alerts.keys()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"], name
        assert unknown_names(rule["expr"]) == [], name


def test_the_operators_dashboard_lays_out_panels_of_exported_series(chart: Any) -> None:
    values = values_of("monitoring")
    label = values["metrics"]["grafanaDashboard"]["label"]
    (config_map,) = [m for m in render(chart, values) if m["metadata"].get("labels", {}).get(label) == "1"]
    ((filename, text),) = config_map["data"].items()
    assert filename.endswith(".json")
    board = json.loads(text)
    assert board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    assert len(board["panels"]) >= 8
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)
    taken: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        box = panel["gridPos"]
        assert box["w"] > 0 and box["h"] > 0 and box["x"] >= 0 and box["x"] + box["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        references = [target["refId"] for target in panel["targets"]]
        assert references and len(set(references)) == len(references), panel["title"]
        for target in panel["targets"]:
            assert unknown_names(target["expr"]) == [], (panel["title"], target["expr"])
