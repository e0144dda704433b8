"""The points' demo: 木棉岭社区's earning rules, its redemption catalogue, and welcome points for the demo
resident 13800000001 so the app has a balance to spend. Idempotent (names, and the welcome's reference)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.hierarchy.repository import NodeRepository
from linli.points import service
from linli.points.schemas import EarningRuleIn
from linli.tenants.lifecycle import tenant_by_slug
from linli.tenants.service import user_by_phone

DEMO_RULES = {"checkin": 5, "volunteer_hour": 10, "recycling_dropoff": 2}
# (name, English name, cost, stock)
DEMO_REWARDS = (
    ("环保购物袋", "Reusable shopping bag", 50, None),
    ("鸡蛋一盒", "A box of eggs", 80, 50),
    ("洗衣液", "Laundry detergent", 120, 30),
    ("社区理发券", "Barber voucher", 200, 20),
)
DEMO_RESIDENT = "13800000001"
WELCOME_POINTS = 150


async def seed_points_demo(session: AsyncSession, scale: str) -> None:
    tenant = await tenant_by_slug(session, slug="mumianling")
    community = await NodeRepository(session).find_by_name("木棉岭社区")
    estate = await NodeRepository(session).find_by_name("悦峰尚府")
    if tenant is None or community is None or estate is None:
        return
    if not await service.rules(session, tenant_id=tenant.id):  # an operator's own rules stay as they are
        rules = [EarningRuleIn(rule=rule, points=points) for rule, points in DEMO_RULES.items()]
        await service.put_rules(session, actor=None, node_id=community.id, rules_in=rules)
    existing = {r.name for r in await service.rewards(session) if r.tenant_id == tenant.id}
    for name, name_en, cost, stock in DEMO_REWARDS:
        if name not in existing:
            await service.create_reward(
                session, actor=None, node_id=community.id, name=name, name_en=name_en, cost=cost, stock=stock
            )
    resident = await user_by_phone(session, phone=DEMO_RESIDENT)
    if resident is not None:
        await service.move(
            session,
            actor=None,
            tenant=(tenant.id, tenant.node_path),
            user_id=resident.id,
            resident_path=estate.node_path,
            kind="adjust",
            amount=WELCOME_POINTS,
            reason="welcome",
            reference="demo:welcome",
        )
