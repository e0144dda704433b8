"""What `/metrics` carries after a minute of activity, and that the chart's alert rules and Grafana
dashboard name only series the app exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import deadlines
from linli.iot.ingest import IngestWriter, Message
from linli.platform import metrics  # noqa: F401  (defines every series on the registry)
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.events.conftest import system
from tests.iot.conftest import Devices, devices, estate, live, live_login  # noqa: F401  (fixtures)

CHART = Path(__file__).resolve().parents[2] / "helm" / "linli"
RULES = CHART / "files" / "prometheus-rules.yaml"
DASHBOARD = CHART / "files" / "grafana-dashboard.json"
TOKEN = "scrape-token"


async def scrape(app: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await app.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def test_metrics_carry_ingest_dispatch_and_api_series_after_a_minute(
    live: httpx.AsyncClient,  # noqa: F811
    live_login: Login,  # noqa: F811
    devices: Devices,  # noqa: F811
    estate: dict[str, Any],  # noqa: F811
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "metrics_token", TOKEN)
    before = await scrape(live)

    # A minute of telemetry from one sensor, one reading every ten seconds, and one refused reading.
    sensor = await devices.register("co_sensor", estate["id"], building="3栋")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    writer = IngestWriter()
    for second in range(0, 60, 10):
        body = {"ts": (start + timedelta(seconds=second)).isoformat(), "metrics": {"co_ppm": 3.0 + second / 10}}
        message = Message(
            source="mqtt",
            payload=orjson.dumps(body),
            topic=sensor["credentials"]["telemetry_topic"],
            slug="mumianling",
            serial=sensor["serial"],
        )
        assert (await writer.write([message])).stored == 1
    refused = Message(source="http", payload=b'{"metrics": {"no_such_metric": 1}}', device=None)
    refused_result = await writer.write([refused])
    assert refused_result.dead == 1
    reason = refused_result.errors[0]["reason"]

    # An event raised by a resident, its accept deadline missed (swept in the test's rolled-back session).
    body = {"item": "ph_repair_request", "description": "metrics test", "node_id": estate["id"], "location": {}}
    created = await live.post("/api/v1/events", json=body, headers=await live_login("13800000001"))
    assert created.status_code == 201, created.text
    event = created.json()
    staff = await live_login("staff@mumianling.demo")
    assert (await live.get(f"/api/v1/events/{event['id']}", headers=staff)).status_code == 200
    assert (await live.get("/api/v1/events/999999", headers=staff)).status_code in (404, 422)
    await system(db)
    assert await deadlines.sweep_deadlines(db, now=datetime.fromisoformat(event["accept_by"]) + timedelta(seconds=1))

    after = await scrape(live)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("linli_ingest_messages_total", source="mqtt") == 6
    assert grew("linli_ingest_readings_stored_total") == 6
    assert grew("linli_ingest_dead_letters_total", reason=reason) == 1
    assert grew("linli_ingest_batch_duration_seconds_count") == 7
    assert total(after, "linli_ingest_lag_seconds") >= 0 and total(after, "linli_ingest_last_batch_timestamp_seconds")
    assert grew("linli_events_created_total", source="resident_report") == 1
    assert grew("linli_deadlines_missed_total", kind="accept") >= 1
    assert grew("linli_event_escalations_total") >= 1
    assert ("linli_job_queue_depth", (("state", "due"),)) in after
    # API latency by route template, never by the raw path of an object.
    route = "/api/v1/events/{event_id}"
    assert grew("linli_http_request_duration_seconds_count", method="GET", route=route, status_class="2xx") == 1
    assert grew("linli_http_errors_total", code="not_found") + grew("linli_http_errors_total", code="validation_error")
    routes = {value for (_, labels), _ in after.items() for name, value in labels if name == "route"}
    assert route in routes
    assert not [r for r in routes if event["id"] in r or "999999" in r or re.search(r"/\d+(/|$)", r)]


# ---------------------------------------------------------------- the chart's rules and dashboard


def exported_names() -> set[str]:
    """Every series name the app exports (histograms with their _bucket/_count/_sum)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("linli_"):
            continue
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


# Series the chart uses that come from elsewhere: postgres-exporter (database connections) and
# Prometheus itself.
EXTERNAL = {"pg_stat_activity_count", "pg_settings_max_connections", "up"}


def referenced_names(expression: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expression)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", without_ranges))
    return {w for w in words if w.startswith(("linli_", "pg_")) or w == "up"}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def test_alert_rules_parse_and_cover_what_operators_need() -> None:
    alerts = {rule["alert"]: rule for rule in rules()}
    assert {"LinliIngestStalled", "LinliDeadlineSweepNotRunning", "LinliDeadLettersSurging"} <= set(alerts)
    assert "LinliDatabaseConnectionsSaturated" in alerts
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"]


def test_alert_rules_and_dashboard_name_only_exported_series() -> None:
    known = exported_names() | EXTERNAL
    expressions = [rule["expr"] for rule in rules()] + dashboard_expressions()
    assert len(dashboard_expressions()) >= 8
    for expression in expressions:
        unknown = referenced_names(expression) - known
        assert not unknown, f"{expression!r} names series the app does not export: {unknown}"


def test_the_check_would_catch_a_misspelt_series() -> None:
    assert referenced_names('rate(linli_ingest_readings_stord_total{x="linli_y"}[5m])') - exported_names() == {
        "linli_ingest_readings_stord_total"
    }


def test_the_chart_renders_operator_objects_only_where_the_operator_is() -> None:
    """`helm` is not available here: the template is read as text."""
    template = (CHART / "templates" / "monitoring.yaml").read_text()
    operator = '(.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")'
    for kind, switch in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "prometheusRule")):
        guard = f"{{{{- if and .Values.metrics.{switch}.enabled {operator} }}}}\n---\n"
        guard += f"apiVersion: monitoring.coreos.com/v1\nkind: {kind}\n"
        assert guard in template, kind
    assert '.Files.Get "files/prometheus-rules.yaml"' in template
    assert '.Files.Get "files/grafana-dashboard.json"' in template
    assert '{{ .Values.metrics.grafanaDashboard.label }}: "1"' in template
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["metrics"]["grafanaDashboard"]["label"] == "grafana_dashboard"
