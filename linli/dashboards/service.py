"""The command-centre drill-down: any node of the five levels, its KPIs and its children's. Never commits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from linli.dashboards import grafana
from linli.dashboards.reporting import provision_reporting, reporting_for
from linli.dashboards.repository import KpiRepository, active_tenants, current_database
from linli.dashboards.schemas import Drilldown, IotSummary, NodeKpis
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


async def _node_kpis(repo: KpiRepository, node: Node, from_: datetime, to_: datetime) -> NodeKpis:
    return NodeKpis(
        node=NodeOut.model_validate(node),
        events=EventKpis.model_validate(await repo.event_kpis(node.node_path, from_, to_)),
        iot=IotSummary.model_validate(await repo.iot_summary(node.node_path)),
    )


async def drilldown(
    session: AsyncSession, *, actor: Principal, node_id: int, from_: datetime | None, to_: datetime | None
) -> Drilldown:
    window_from, window_to = resolve_window(from_, to_)
    nodes = NodeService(session)
    node = await nodes.get_for(actor, node_id, ("kpis", "read"))
    repo = KpiRepository(session)
    own = await _node_kpis(repo, node, window_from, window_to)
    counts = await repo.event_counts(node.node_path, window_from, window_to)
    children = await nodes.list(q=None, level=None, parent_id=node.id, after_id=None, limit=MAX_CHILDREN)
    return Drilldown(
        **own.model_dump(),
        window_from=window_from,
        window_to=window_to,
        breadcrumbs=[NodeOut.model_validate(n) for n in await nodes.ancestors(node) if n.id != node.id],
        by_item=counts.get("item", {}),
        by_source=counts.get("source", {}),
        children=[await _node_kpis(repo, child, window_from, window_to) for child in children],
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
