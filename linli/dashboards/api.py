from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from linli.dashboards import service
from linli.dashboards.permissions import KpisRead
from linli.dashboards.schemas import Drilldown
from linli.platform.access import DbSession
from linli.platform.ids import Id

router = APIRouter(prefix="/api/v1/dashboards", tags=["dashboards"])


@router.get("/nodes/{node_id}", operation_id="get_node_dashboard")
async def get_node_dashboard(
    node_id: Id,
    session: DbSession,
    principal: KpisRead,
    from_: Annotated[
        datetime | None, Query(alias="from", description="window start (default: 30 local days, today included)")
    ] = None,
    to: Annotated[datetime | None, Query(description="window end (default: now)")] = None,
) -> Drilldown:
    """KPIs of a node and of each child one level down: the command centre's drill-down, at every level."""
    return await service.drilldown(session, actor=principal, node_id=node_id, from_=from_, to_=to)
