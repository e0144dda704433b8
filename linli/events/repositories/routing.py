"""Handler units, their members, and routing rules (who handles an event)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text

from linli.events.models import HandlerUnit, HandlerUnitMember, RoutingRule
from linli.events.repositories.base import Repository
from linli.events.repositories.catalog import Item

# Default units every tenant gets (name suffix by level); property companies are per estate and added
# when the estate's company is known (the demo adds one per estate).
DEFAULT_UNITS_SQL = """
insert into handler_units (node_id, node_path, kind, name)
select n.id, n.node_path, d.kind, n.name || d.suffix
from nodes n join (values
  ('community', 'community_staff', '工作站'),
  ('community', 'mediation', '人民调解委员会'),
  ('community', 'social_worker', '社工站'),
  ('grid', 'grid_worker', '网格员'),
  ('street', 'urban_mgmt', '城管执法中队'),
  ('street', 'street_office', '便民服务中心'),
  ('street', 'police', '派出所'),
  ('street', 'fire', '消防救援站'),
  ('street', 'medical', '社区卫生服务中心（120联动）'),
  ('street', 'maintenance', '维保单位')
) as d(level, kind, suffix) on d.level = n.level
where n.node_path <@ text2ltree(:root) and n.archived_at is null
on conflict (node_id, kind, name) do nothing
"""
# A community tenant has no street inside it: its street-level teams are attached to the community.
COMMUNITY_TENANT_STREET_UNITS_SQL = """
insert into handler_units (node_id, node_path, kind, name)
select c.id, c.node_path, d.kind, s.name || d.suffix
from nodes c join nodes s on s.id = c.parent_id
cross join (values
  ('urban_mgmt', '城管执法中队'), ('street_office', '便民服务中心'), ('police', '派出所'),
  ('fire', '消防救援站'), ('medical', '社区卫生服务中心（120联动）'), ('maintenance', '维保单位')
) as d(kind, suffix)
where c.id = :node_id and c.level = 'community'
on conflict (node_id, kind, name) do nothing
"""


@dataclass(frozen=True)
class Route:
    handler_unit_id: int
    name: str
    kind: str
    node_id: int
    node_path: str
    unrouted: bool


class HandlerUnitRepository(Repository):
    async def unit(self, unit_id: int) -> HandlerUnit | None:
        return await self.session.get(HandlerUnit, unit_id)

    async def units(
        self, *, within_path: str | None, kind: str | None, after_id: int | None, limit: int
    ) -> Sequence[HandlerUnit]:
        stmt = select(HandlerUnit).order_by(HandlerUnit.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(HandlerUnit.node_path.op("<@")(func.text2ltree(within_path)))
        if kind:
            stmt = stmt.where(HandlerUnit.kind == kind)
        if after_id is not None:
            stmt = stmt.where(HandlerUnit.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def unit_at(self, *, node_id: int, kind: str) -> HandlerUnit | None:
        stmt = (
            select(HandlerUnit)
            .where(HandlerUnit.node_id == node_id, HandlerUnit.kind == kind, HandlerUnit.active)
            .order_by(HandlerUnit.id)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def member(self, unit_id: int, user_id: uuid.UUID) -> HandlerUnitMember | None:
        stmt = select(HandlerUnitMember).where(
            HandlerUnitMember.handler_unit_id == unit_id, HandlerUnitMember.user_id == user_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def unit_member_ids(self, unit_id: int) -> list[uuid.UUID]:
        rows = await self.session.execute(text("select user_id from linli_handler_unit_members(:u)"), {"u": unit_id})
        return [r[0] for r in rows]

    async def unit_ids_of(self, user_id: uuid.UUID) -> list[int]:
        """The units the person belongs to (as far as the caller's scopes show)."""
        stmt = select(HandlerUnitMember.handler_unit_id).where(HandlerUnitMember.user_id == user_id)
        return list((await self.session.execute(stmt)).scalars())

    async def users_granted_at(self, node_id: int) -> list[uuid.UUID]:
        rows = await self.session.execute(
            text("select distinct user_id from role_grants where node_id = :n and role <> 'resident'"), {"n": node_id}
        )
        return [r[0] for r in rows]

    async def ensure_defaults(self, *, root: str, node_id: int) -> None:
        """The default units of the tenant rooted at `root` whose own node is `node_id` (idempotent)."""
        await self.session.execute(text(DEFAULT_UNITS_SQL), {"root": root})
        await self.session.execute(text(COMMUNITY_TENANT_STREET_UNITS_SQL), {"node_id": node_id})


class RoutingRuleRepository(Repository):
    async def route(self, *, item: Item, node_path: str) -> Route | None:
        row = (
            await self.session.execute(
                text(
                    "select handler_unit_id, name, kind, node_id, node_path::text, unrouted "
                    "from linli_event_dispatch(:item, :line, :kind, text2ltree(:path))"
                ),
                {"item": item.code, "line": item.line_code, "kind": item.handler, "path": node_path},
            )
        ).first()
        return Route(*row) if row and row[0] is not None else None

    async def route_to_kind(self, *, kind: str, node_path: str) -> Route | None:
        """The nearest active unit of `kind` at or above `node_path` (no routing rules)."""
        row = (
            await self.session.execute(
                text(
                    "select handler_unit_id, name, kind, node_id, node_path::text, unrouted "
                    "from linli_event_dispatch(null, null, :kind, text2ltree(:path))"
                ),
                {"kind": kind, "path": node_path},
            )
        ).first()
        return Route(*row) if row and row[0] is not None else None

    async def rules(self, *, within_path: str | None, after_id: int | None, limit: int) -> Sequence[RoutingRule]:
        stmt = select(RoutingRule).order_by(RoutingRule.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(RoutingRule.node_path.op("<@")(func.text2ltree(within_path)))
        if after_id is not None:
            stmt = stmt.where(RoutingRule.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def rule(self, rule_id: int) -> RoutingRule | None:
        return await self.session.get(RoutingRule, rule_id)

    async def delete(self, obj: object) -> None:
        await self.session.delete(obj)
