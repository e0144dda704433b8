"""KPI queries: thin calls of the shared SQL functions (the same ones the Grafana panels use)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

EVENT_KPIS = "select * from linli_event_kpis(text2ltree(:path), :from_, :to_)"
IOT_SUMMARY = "select * from linli_iot_summary(text2ltree(:path))"
EVENT_COUNTS = "select dimension, key, count from linli_event_counts(text2ltree(:path), :from_, :to_)"


class KpiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def event_kpis(self, path: str, from_: datetime, to_: datetime) -> dict[str, Any]:
        row = (await self.session.execute(text(EVENT_KPIS), {"path": path, "from_": from_, "to_": to_})).mappings()
        return dict(row.one())

    async def event_counts(self, path: str, from_: datetime, to_: datetime) -> dict[str, dict[str, int]]:
        rows = await self.session.execute(text(EVENT_COUNTS), {"path": path, "from_": from_, "to_": to_})
        counts: dict[str, dict[str, int]] = {}
        for dimension, key, count in rows:
            counts.setdefault(dimension, {})[key] = int(count)
        return counts

    async def iot_summary(self, path: str) -> dict[str, Any]:
        return dict((await self.session.execute(text(IOT_SUMMARY), {"path": path})).mappings().one())
