"""KPIs of a subtree, computed by reviewed database functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from linli.events.repositories.base import Repository


class EventKpiRepository(Repository):
    async def kpis(self, *, path: str, since: datetime, until: datetime) -> dict[str, Any]:
        row = (
            await self.session.execute(
                text("select * from linli_event_kpis(text2ltree(:p), :f, :t)"), {"p": path, "f": since, "t": until}
            )
        ).one()
        return dict(row._mapping)

    async def counts(self, *, path: str, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
        rows = await self.session.execute(
            text("select dimension, key, count from linli_event_counts(text2ltree(:p), :f, :t)"),
            {"p": path, "f": since, "t": until},
        )
        return [(r[0], r[1], int(r[2])) for r in rows]
