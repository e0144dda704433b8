from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from linli.events.schemas import EventKpis
from linli.platform.hierarchy.schemas import NodeOut


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
