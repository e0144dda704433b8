"""Builds the demo node tree from `districts.yaml`: districts, streets, communities, generated grids,
estates and their buildings and units. Idempotent: rows are upserted by their code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.catalogs import load

GRIDS_PER_COMMUNITY = 3
ESTATES_PER_GRID = 2
ESTATE_SUFFIXES = ("花园", "苑", "小区", "家园", "新村", "雅居")


@dataclass
class PlannedNode:
    level: str
    code: str
    name: str
    path: str
    parent_code: str | None
    name_en: str | None = None
    buildings: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)


def plan_tree() -> list[PlannedNode]:
    """The whole demo tree, parents before children."""
    data = load("districts")
    notable = {n["name"]: n for n in data.get("notable_communities", [])}
    planned: list[PlannedNode] = []
    for district in data["districts"]:
        d_path = f"d{district['code']}"
        planned.append(
            PlannedNode(
                "district",
                district["code"],
                district["name"]["zh"],
                d_path,
                None,
                name_en=district["name"]["en"],
                attrs={"city": district.get("city")},
            )
        )
        for street in district["streets"]:
            s_path = f"{d_path}.s{street['code'][-3:]}"
            planned.append(PlannedNode("street", street["code"], street["name"], s_path, district["code"]))
            for community in street["communities"]:
                c_path = f"{s_path}.c{community['code'][-3:]}"
                planned.append(PlannedNode("community", community["code"], community["name"], c_path, street["code"]))
                planned.extend(_plan_grids(community, c_path, notable.get(community["name"])))
    return planned


def _plan_grids(community: dict[str, Any], c_path: str, notable: dict[str, Any] | None) -> list[PlannedNode]:
    base = community["name"].removesuffix("社区")
    named_estates = list(notable["estates"]) if notable else []
    grids = max(GRIDS_PER_COMMUNITY, len(named_estates))
    out: list[PlannedNode] = []
    for g in range(1, grids + 1):
        g_code = f"{community['code']}g{g:02d}"
        g_path = f"{c_path}.g{g:02d}"
        out.append(PlannedNode("grid", g_code, f"{base}第{g}网格", g_path, community["code"], name_en=f"Grid {g}"))
        # Named estates from the seeds come first, one per grid; the rest are generated.
        estates: list[tuple[str, int]] = []
        if named_estates:
            estate = named_estates.pop(0)
            estates.append((estate["name"], int(estate["buildings"])))
        while len(estates) < ESTATES_PER_GRID:
            n = (g - 1) * ESTATES_PER_GRID + len(estates)
            estates.append((f"{base}{ESTATE_SUFFIXES[n % len(ESTATE_SUFFIXES)]}{n // len(ESTATE_SUFFIXES) + 1}期", 3))
        for e, (name, buildings) in enumerate(estates, start=1):
            out.append(
                PlannedNode("estate", f"{g_code}e{e:02d}", name, f"{g_path}.e{e:02d}", g_code, buildings=buildings)
            )
    return out


UPSERT_NODE = text(
    """
    insert into nodes (parent_id, level, code, name, name_en, node_path, attrs)
    values ((select id from nodes where code = :parent_code), :level, :code, :name, :name_en,
            text2ltree(:path), cast(:attrs as jsonb))
    on conflict (code) do update set name = excluded.name, name_en = excluded.name_en, attrs = excluded.attrs
    """
)

UNITS_PER_BUILDING = 2


async def seed_tree(session: AsyncSession, *, progress: Callable[[int], None] | None = None) -> int:
    import json

    planned = plan_tree()
    by_level: dict[str, list[PlannedNode]] = {}
    for node in planned:
        by_level.setdefault(node.level, []).append(node)
    for level in ("district", "street", "community", "grid", "estate"):
        rows = [
            {
                "parent_code": n.parent_code,
                "level": n.level,
                "code": n.code,
                "name": n.name,
                "name_en": n.name_en,
                "path": n.path,
                "attrs": json.dumps(n.attrs | ({"buildings": n.buildings} if n.buildings else {})),
            }
            for n in by_level.get(level, [])
        ]
        if rows:
            await session.execute(UPSERT_NODE, rows)
        if progress:
            progress(len(rows))
    await _seed_locations(session)
    return len(planned)


async def _seed_locations(session: AsyncSession) -> None:
    """Buildings and units for every estate that has none yet (so a second run adds nothing)."""
    await session.execute(
        text(
            """
            insert into locations (node_id, node_path, kind, name)
            select e.id, e.node_path, 'building', b || '栋'
            from nodes e cross join lateral generate_series(1, coalesce((e.attrs->>'buildings')::int, 3)) b
            where e.level = 'estate' and not exists (select 1 from locations l where l.node_id = e.id)
            """
        )
    )
    await session.execute(
        text(
            """
            insert into locations (node_id, node_path, parent_id, kind, name)
            select b.node_id, b.node_path, b.id, 'unit', u || '单元'
            from locations b cross join generate_series(1, :units) u
            where b.kind = 'building' and not exists (select 1 from locations c where c.parent_id = b.id)
            """
        ),
        {"units": UNITS_PER_BUILDING},
    )
