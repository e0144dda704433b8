from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from linli.platform.hierarchy.schemas import NodeOut


class EventKpis(BaseModel):
    total: int
    open: int
    resolved: int
    cancelled: int
    avg_accept_s: float | None
    p90_accept_s: float | None
    avg_resolve_s: float | None
    p90_resolve_s: float | None
    on_time_rate: float | None
    resolution_rate: float | None
    ratings: int
    avg_rating: float | None
    satisfaction_rate: float | None


class IotSummary(BaseModel):
    devices: int
    online: int
    offline: int
    open_alarms: int
    critical_alarms: int


class NodeKpis(BaseModel):
    node: NodeOut
    events: EventKpis
    iot: IotSummary


class Drilldown(NodeKpis):
    """One screen of the command centre: a node, the way up, its numbers, and each child's numbers."""

    window_from: datetime
    window_to: datetime
    breadcrumbs: list[NodeOut]
    by_item: dict[str, int]
    by_source: dict[str, int]
    children: list[NodeKpis]
