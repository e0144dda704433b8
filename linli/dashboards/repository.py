"""KPI queries: thin calls of the shared SQL functions (the same ones the Grafana panels use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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


@dataclass(frozen=True)
class TenantRow:
    id: int
    slug: str
    name: str
    level: str


ACTIVE_TENANTS = text(
    "select t.id, t.slug, n.name, n.level from tenants t join nodes n on n.id = t.node_id "
    "where t.status = 'active' and (cast(:slug as text) is null or t.slug = :slug) order by t.id"
)


async def active_tenants(conn: AsyncConnection, *, slug: str | None) -> list[TenantRow]:
    """Every active tenant, or the one with `slug`, read on the administrative connection that
    provisions their reporting roles (no scope applies there)."""
    return [TenantRow(*row) for row in await conn.execute(ACTIVE_TENANTS, {"slug": slug})]


async def current_database(conn: AsyncConnection) -> str:
    return str(await conn.scalar(text("select current_database()")))
