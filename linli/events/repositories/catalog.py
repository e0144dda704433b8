"""The event taxonomy: lines and items (seeded catalogs, read by everyone)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from linli.events.repositories.base import Repository


@dataclass(frozen=True)
class Item:
    code: str
    line_code: str
    name: str
    name_en: str
    handler: str
    severity: str
    accept_minutes: int
    resolve_minutes: int
    evidence_required: bool
    sources: list[str]


ITEM_CACHE_SECONDS = 60.0
_ITEM_CACHE: dict[str, tuple[float, Item]] = {}


class CatalogRepository(Repository):
    async def item(self, code: str) -> Item | None:
        """Catalog rows change only when the catalogs are re-seeded: cached per process for a minute."""
        cached = _ITEM_CACHE.get(code)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        item = await self._load_item(code)
        if item is not None:
            _ITEM_CACHE[code] = (time.monotonic() + ITEM_CACHE_SECONDS, item)
        return item

    async def _load_item(self, code: str) -> Item | None:
        row = (
            await self.session.execute(
                text(
                    "select code, line_code, name, name_en, handler, severity, accept_minutes, resolve_minutes, "
                    "evidence_required, sources from event_items where code = :c"
                ),
                {"c": code},
            )
        ).first()
        return Item(*row) if row else None

    async def line_exists(self, code: str) -> bool:
        return await self.session.scalar(text("select 1 from event_lines where code = :c"), {"c": code}) is not None

    async def items(self) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            text(
                "select i.code, i.line_code, i.name, i.name_en, i.handler, i.severity, i.accept_minutes, "
                "i.resolve_minutes, i.evidence_required, i.sources, l.name as line_name, l.name_en as line_name_en "
                "from event_items i join event_lines l on l.code = i.line_code order by l.position, i.code"
            )
        )
        return [dict(r._mapping) for r in rows]
