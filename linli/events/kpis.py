"""KPIs of a subtree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.repositories import EventKpiRepository
from linli.platform.access import Permission, Principal
from linli.platform.hierarchy.service import NodeService


async def kpis(
    session: AsyncSession, *, actor: Principal, node_id: int | None, since: datetime, until: datetime
) -> dict[str, Any]:
    node = await NodeService(session).get_for(
        actor, actor.home_node_id() if node_id is None else node_id, Permission("kpis", "read")
    )
    repo = EventKpiRepository(session)
    out = await repo.kpis(path=node.node_path, since=since, until=until)
    groups: dict[str, dict[str, int]] = {"item": {}, "source": {}, "status": {}}
    for dimension, key, count in await repo.counts(path=node.node_path, since=since, until=until):
        groups[dimension][key] = count
    return out | {
        "node_id": node.id,
        "node_path": node.node_path,
        "since": since,
        "until": until,
        "by_item": groups["item"],
        "by_source": groups["source"],
        "by_status": groups["status"],
    }
