"""Grafana provisioning: per tenant one organisation, one datasource on the tenant's read-only role,
and one dashboard per level from the tenant's own level down, with fixed UIDs, linked down by data
links and up by breadcrumb links. Idempotent: running it again updates in place."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlparse

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from linli.dashboards.reporting import TenantReporting
from linli.platform.hierarchy.models import NodeLevel

DATASOURCE_TYPE = "grafana-postgresql-datasource"
LEVEL_NAMES = {
    "district": ("区", "District"),
    "street": ("街道", "Street"),
    "community": ("社区", "Community"),
    "grid": ("网格", "Grid"),
    "estate": ("小区", "Estate"),
}
WINDOW = "$__timeFrom(), $__timeTo()"


def dashboard_uid(level: str) -> str:
    """Fixed per level; UIDs are per organisation and every tenant has its own."""
    return f"linli-{level}"


def dashboard_url(base_url: str, level: str, node_path: str, since: datetime, until: datetime) -> str | None:
    """Where a node's dashboard for a window opens (in the Grafana organisation the user is in); the
    district has none, only tenants (streets and communities) have dashboards."""
    if level == NodeLevel.district.value:
        return None
    window = {"from": int(since.timestamp() * 1000), "to": int(until.timestamp() * 1000)}
    query = urlencode({"var-node": node_path} | window)
    return f"{base_url.rstrip('/')}/d/{dashboard_uid(level)}?{query}"


def datasource_uid(slug: str) -> str:
    return f"linli-{slug}"[:40]


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # stat | table | barchart | timeseries
    sql: str
    fmt: str = "table"


def panels_for(level: NodeLevel) -> list[Panel]:
    """Every panel of a level's dashboard; `$node` is the dashboard's node path."""
    node = "'$node'::ltree"
    panels = [
        Panel("事件 Events", "stat", f"select total, open, resolved from event_kpis({node}, {WINDOW})"),
        Panel(
            "处置时长 Minutes to accept / resolve",
            "stat",
            "select round((avg_accept_s / 60)::numeric, 1) as avg_accept_min, "
            "round((avg_resolve_s / 60)::numeric, 1) as avg_resolve_min, "
            "round((p90_resolve_s / 60)::numeric, 1) as p90_resolve_min "
            f"from event_kpis({node}, {WINDOW})",
        ),
        Panel(
            "比率 Rates (%)",
            "stat",
            "select round((on_time_rate * 100)::numeric, 1) as on_time, "
            "round((resolution_rate * 100)::numeric, 1) as resolved, "
            "round((satisfaction_rate * 100)::numeric, 1) as satisfied "
            f"from event_kpis({node}, {WINDOW})",
        ),
        Panel("物联感知 Devices and alarms", "stat", f"select * from iot_summary({node})"),
        Panel(
            "关爱走访 Care and visits",
            "stat",
            "select people, open_not_seen, visits_due, visits_overdue, "
            "round((visits_on_time::numeric / nullif(visits_done, 0)) * 100, 1) as visits_on_time_pct "
            f"from care_overview({node}, {WINDOW}) where category = '*'",
        ),
        Panel(
            "巡查 Patrol rounds",
            "stat",
            "select done, late, open, missed, round((on_time_rate * 100)::numeric, 1) as on_time_pct "
            f"from patrol_overview({node}, {WINDOW})",
        ),
        Panel(
            "事件类型 Events by item",
            "barchart",
            "select item_code, count(*) as events from events "
            f"where node_path <@ {node} and created_at >= $__timeFrom() and created_at < $__timeTo() "
            "group by item_code order by events desc limit 15",
        ),
        Panel(
            "每小时事件 Events per hour",
            "timeseries",
            "select date_trunc('hour', created_at) as time, count(*) as events from events "
            f"where node_path <@ {node} and created_at >= $__timeFrom() and created_at < $__timeTo() "
            "group by 1 order by 1",
            fmt="time_series",
        ),
        Panel(
            "未消除告警 Open alarms",
            "table",
            "select opened_at as time, rule_code, severity, state, value from alarms "
            f"where node_path <@ {node} and state <> 'cleared' order by opened_at desc limit 50",
        ),
    ]
    if level != NodeLevel.estate:
        panels.append(
            Panel(
                "下级 Drill down",
                "table",
                "select c.name, c.node_path::text as node_path, k.total, k.open, "
                "round((k.resolution_rate * 100)::numeric, 1) as resolved_pct, s.devices, s.open_alarms "
                f"from nodes c cross join lateral event_kpis(c.node_path, {WINDOW}) k "
                "cross join lateral iot_summary(c.node_path) s "
                f"where c.node_path <@ {node} and c.depth = nlevel({node}) + 1 order by c.node_path",
            )
        )
    return panels


def variable_queries(level: NodeLevel) -> dict[str, str]:
    """`node` picks a node of this level; `up_<level>` is the ancestor path at each level above."""
    queries = {
        "node": f"select node_path::text as __value, name as __text from nodes where level = '{level.value}' "
        "order by node_path"
    }
    for upper in list(NodeLevel)[: level.depth]:
        queries[f"up_{upper.value}"] = f"select subpath('$node'::ltree, 0, {upper.depth + 1})::text"
    return queries


def levels_for(tenant_level: str) -> list[NodeLevel]:
    start = NodeLevel(tenant_level).depth
    return list(NodeLevel)[start:]


def build_dashboard(tenant: str, level: NodeLevel, levels: list[NodeLevel], ds_uid: str) -> dict[str, Any]:
    datasource = {"type": DATASOURCE_TYPE, "uid": ds_uid}
    zh, en = LEVEL_NAMES[level.value]
    below = levels[levels.index(level) + 1] if level != levels[-1] else None
    variables = []
    for name, query in variable_queries(level).items():
        variables.append(
            {
                "name": name,
                "type": "query",
                "datasource": datasource,
                "query": query,
                "refresh": 1,
                "hide": 0 if name == "node" else 2,
            }
        )
    panels: list[dict[str, Any]] = []
    for i, panel in enumerate(panels_for(level)):
        spec: dict[str, Any] = {
            "id": i + 1,
            "title": panel.title,
            "type": panel.kind,
            "datasource": datasource,
            "gridPos": {
                "x": (i % 4) * 6 if panel.kind == "stat" else 0,
                "y": i * 8,
                "w": 6 if panel.kind == "stat" else 24,
                "h": 8,
            },
            "targets": [
                {
                    "refId": "A",
                    "datasource": datasource,
                    "rawQuery": True,
                    "editorMode": "code",
                    "format": panel.fmt,
                    "rawSql": panel.sql,
                }
            ],
        }
        if panel.title.startswith("下级") and below is not None:
            # Data link: a child's name opens the next level's dashboard for that child.
            spec["fieldConfig"] = {
                "defaults": {},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "name"},
                        "properties": [
                            {
                                "id": "links",
                                "value": [
                                    {
                                        "title": f"{LEVEL_NAMES[below.value][0]} {LEVEL_NAMES[below.value][1]}",
                                        "url": f"/d/{dashboard_uid(below.value)}"
                                        "?var-node=${__data.fields.node_path}&${__url_time_range}",
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        panels.append(spec)
    # Breadcrumbs: one link up to each level above, within the tenant's own levels.
    links = [
        {
            "title": f"↑ {LEVEL_NAMES[upper.value][0]} {LEVEL_NAMES[upper.value][1]}",
            "type": "link",
            "url": f"/d/{dashboard_uid(upper.value)}?var-node=${{up_{upper.value}}}&${{__url_time_range}}",
            "includeVars": False,
            "keepTime": True,
        }
        for upper in levels[: levels.index(level)]
    ]
    return {
        "uid": dashboard_uid(level.value),
        "title": f"{zh} {en} · {tenant}",
        "tags": ["linli", level.value],
        "timezone": "browser",
        "schemaVersion": 39,
        "time": {"from": "now-30d", "to": "now"},
        "templating": {"list": variables},
        "links": links,
        "panels": panels,
    }


def tenant_dashboards(tenant: str, tenant_level: str, ds_uid: str) -> Iterator[dict[str, Any]]:
    levels = levels_for(tenant_level)
    for level in levels:
        yield build_dashboard(tenant, level, levels, ds_uid)


@dataclass(frozen=True)
class GrafanaTarget:
    url: str
    user: str
    password: str
    db_address: str
    db_name: str


@dataclass(frozen=True)
class SyncResult:
    org_id: int
    org_created: bool
    datasource_created: bool
    dashboards: list[str]


def _api(target: GrafanaTarget, org_id: int | None = None) -> Any:  # grafana-client is untyped
    """A client for the server's admin, acting inside `org_id` (sent as X-Grafana-Org-Id) when given."""
    url = urlparse(target.url)
    return GrafanaApi(
        auth=(target.user, target.password),
        host=url.hostname or "localhost",
        port=url.port,
        protocol=url.scheme or "http",
        url_path_prefix=url.path.strip("/") and url.path.strip("/") + "/",
        organization_id=org_id,
    )


def sync_tenant(
    target: GrafanaTarget, reporting: TenantReporting, *, tenant_name: str, tenant_level: str
) -> SyncResult:
    admin = _api(target)
    org_name = f"Linli · {tenant_name} ({reporting.slug})"
    org_created = False
    try:
        org_id = int(admin.organization.find_organization(org_name)["id"])
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        org_id = int(admin.organization.create_organization({"name": org_name})["orgId"])
        org_created = True
    api = _api(target, org_id)
    ds_uid = datasource_uid(reporting.slug)
    datasource = {
        "uid": ds_uid,
        "name": f"linli-{reporting.slug}",
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": target.db_address,
        "user": reporting.role,
        "isDefault": True,
        "jsonData": {"database": target.db_name, "sslmode": "disable", "postgresVersion": 1500, "timescaledb": True},
        "secureJsonData": {"password": reporting.password},
    }
    try:
        api.datasource.get_datasource_by_uid(ds_uid)
        api.datasource.update_datasource_by_uid(ds_uid, datasource)
        datasource_created = False
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.datasource.create_datasource(datasource)
        datasource_created = True
    uids = []
    for dashboard in tenant_dashboards(tenant_name, tenant_level, ds_uid):
        api.dashboard.update_dashboard(
            {"dashboard": dashboard, "overwrite": True, "message": "provisioned by linli grafana sync"}
        )
        uids.append(dashboard["uid"])
    return SyncResult(org_id, org_created, datasource_created, uids)
