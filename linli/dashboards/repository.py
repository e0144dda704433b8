"""Dashboard queries: thin calls of the shared SQL functions (the same ones the Grafana panels use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# Device and alarm counts of several subtrees in one round trip (the function the Grafana panels use too).
IOT_SUMMARIES = (
    "select p as path, s.* from unnest(cast(:paths as text[])) p cross join lateral linli_iot_summary(text2ltree(p)) s"
)


class KpiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def iot_summaries(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        rows = (await self.session.execute(text(IOT_SUMMARIES), {"paths": paths})).mappings()
        return {row["path"]: {k: v for k, v in row.items() if k != "path"} for row in rows}


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
