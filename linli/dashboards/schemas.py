from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from linli.events.schemas import EventKpis
from linli.platform.hierarchy.schemas import NodeOut


class IotSummary(BaseModel):
    devices: int = Field(description="registered and not revoked (counted every minute)")
    online: int
    offline: int
    open_alarms: int = Field(description="open or acknowledged, not yet cleared")
    critical_alarms: int


class NodeKpis(BaseModel):
    node: NodeOut
    events: EventKpis = Field(description="events created in the window; p90 times within 10 %")
    iot: IotSummary


class DayCount(BaseModel):
    day: date = Field(description="a local day (`time_zone`)")
    total: int = Field(description="events created that day")
    open: int = Field(description="of those, still open")
    resolved: int = Field(description="of those, resolved or closed")


class Drilldown(NodeKpis):
    """One screen of the command centre: a node, the way up, its numbers, and each child's numbers."""

    window_from: datetime
    window_to: datetime
    time_zone: str = Field(description="where the days of `per_day` begin")
    breadcrumbs: list[NodeOut] = Field(description="the ancestors the caller may see, root first")
    by_item: dict[str, int]
    by_source: dict[str, int]
    by_line: dict[str, int]
    per_day: list[DayCount] = Field(description="every local day the window touches, oldest first")
    children: list[NodeKpis] = Field(description="one level down, with the same numbers")
    grafana_url: str | None = Field(description="the Grafana dashboard of this level and window, if configured")
