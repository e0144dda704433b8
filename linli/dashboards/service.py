"""The command-centre drill-down: any node of the five levels, its KPIs and its children's. Never commits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from linli.dashboards import grafana
from linli.dashboards.reporting import provision_reporting, reporting_for
from linli.dashboards.repository import KpiRepository, active_tenants, current_database
from linli.dashboards.schemas import DayCount, Drilldown, IotSummary, NodeKpis
from linli.events import rollups as event_rollups
from linli.events.schemas import EventKpis
from linli.platform.access import Principal
from linli.platform.db import admin_connection
from linli.platform.errors import NotFound
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.schemas import NodeOut
from linli.platform.hierarchy.service import NodeService
from linli.platform.settings import get_settings
from linli.platform.window import resolve_window

MAX_CHILDREN = 500


def _days(since: datetime, until: datetime, tz: ZoneInfo) -> list[date]:
    """Every local day the window [since, until) touches."""
    first, last = since.astimezone(tz).date(), (until - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def drilldown(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int,
    from_: datetime | None,
    to_: datetime | None,
    now: datetime | None = None,
) -> Drilldown:
    window_from, window_to = resolve_window(from_, to_, now=now)
    settings = get_settings()
    nodes = NodeService(session)
    node = await nodes.get_for(actor, node_id, ("kpis", "read"))
    children = await nodes.list(q=None, level=None, parent_id=node.id, after_id=None, limit=MAX_CHILDREN)
    stats = await event_rollups.subtree_stats(
        session,
        node_id=node.id,
        node_path=node.node_path,
        child_ids=[c.id for c in children],
        since=window_from,
        until=window_to,
        now=now,
    )
    iot = await KpiRepository(session).iot_summaries([node.node_path, *(c.node_path for c in children)])

    def numbers(of: Node, events: event_rollups.Stats) -> NodeKpis:
        return NodeKpis(
            node=NodeOut.model_validate(of),
            events=EventKpis.model_validate(events.kpis()),
            iot=IotSummary.model_validate(iot[of.node_path]),
        )

    empty = event_rollups.Stats()
    days = [(day, stats.days.get(day, empty)) for day in _days(window_from, window_to, ZoneInfo(settings.time_zone))]
    return Drilldown(
        **numbers(node, stats.own).model_dump(),
        window_from=window_from,
        window_to=window_to,
        time_zone=settings.time_zone,
        breadcrumbs=[NodeOut.model_validate(n) for n in await nodes.ancestors(node) if n.id != node.id],
        by_item=dict(stats.own.items),
        by_source=dict(stats.own.sources),
        by_line=dict(stats.own.lines),
        per_day=[DayCount(day=day, total=s.total, open=s.open, resolved=s.resolved) for day, s in days],
        children=[numbers(child, stats.children.get(child.node_path, empty)) for child in children],
        grafana_url=grafana.dashboard_url(settings.grafana_url, node.level, node.node_path, window_from, window_to)
        if settings.grafana_url
        else None,
    )


async def sync_grafana(*, slug: str | None = None, progress: Callable[[str], None] = lambda _: None) -> list[str]:
    """Provision each active tenant's reporting schema and role, then (when LINLI_GRAFANA_URL is set)
    its Grafana organisation, datasource and dashboards. Safe to run any number of times."""
    settings = get_settings()
    async with admin_connection() as conn:
        tenants = await active_tenants(conn, slug=slug)
        if slug is not None and not tenants:
            raise NotFound("active tenant")
        for tenant in tenants:
            await provision_reporting(conn, reporting_for(tenant.id, tenant.slug))
        db_name = await current_database(conn)
    done = []
    for tenant in tenants:
        progress(tenant.slug)
        if settings.grafana_url:
            target = grafana.GrafanaTarget(
                settings.grafana_url,
                settings.grafana_user,
                settings.grafana_password,
                settings.grafana_db_address,
                db_name,
            )
            await asyncio.to_thread(
                grafana.sync_tenant,
                target,
                reporting_for(tenant.id, tenant.slug),
                tenant_name=tenant.name,
                tenant_level=tenant.level,
            )
        done.append(tenant.slug)
    return done
