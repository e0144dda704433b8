"""Demo data for events: default units for every demo tenant, a property company per estate with
its members, and a routing override at 悦峰尚府."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import routing
from linli.events.repositories import HandlerUnitRepository, RoutingRuleRepository
from linli.platform.hierarchy.repository import NodeRepository
from linli.tenants.models import Tenant
from linli.tenants.repository import UserRepository

PROPERTY_UNIT_SUFFIX = "物业服务中心"
# (login, unit kind, node name) — demo accounts that work in a handler unit.
DEMO_MEMBERS = (
    ("property@yuefeng.demo", "property", "悦峰尚府"),
    ("grid@mumianling.demo", "grid_worker", "木棉岭第1网格"),
    ("staff@mumianling.demo", "community_staff", "木棉岭社区"),
    ("staff@nanhong.demo", "community_staff", "南虹村社区"),
)


async def seed_events_demo(session: AsyncSession, scale: str) -> None:
    tenants = (await session.execute(select(Tenant).order_by(Tenant.id))).scalars().all()
    for tenant in tenants:
        await routing.ensure_default_units(session, tenant)
        await session.execute(
            text(
                "insert into handler_units (node_id, node_path, kind, name) "
                "select id, node_path, 'property', name || :suffix from nodes "
                "where level = 'estate' and node_path <@ text2ltree(:root) "
                "on conflict (node_id, kind, name) do nothing"
            ),
            {"root": tenant.node_path, "suffix": PROPERTY_UNIT_SUFFIX},
        )
    units = HandlerUnitRepository(session)
    nodes = NodeRepository(session)
    users = UserRepository(session)
    for login, kind, node_name in DEMO_MEMBERS:
        node = await nodes.find_by_name(node_name)
        user = await users.by_login(login)
        if node is None or user is None:
            continue
        unit = await units.unit_at(node_id=node.id, kind=kind)
        if unit is not None:
            await routing.add_member(session, actor=None, unit_id=unit.id, user_id=user.id)
    # Inside 悦峰尚府 its property company also handles city-appearance items (an estate-level override).
    estate = await nodes.find_by_name("悦峰尚府", level="estate")
    if estate is not None:
        unit = await units.unit_at(node_id=estate.id, kind="property")
        rules = await RoutingRuleRepository(session).rules(within_path=estate.node_path, after_id=None, limit=10)
        if unit is not None and not any(r.line_code == "city_appearance" for r in rules):
            await routing.create_rule(
                session,
                actor=None,
                node_id=estate.id,
                item=None,
                line="city_appearance",
                handler_unit_id=unit.id,
                priority=0,
            )
