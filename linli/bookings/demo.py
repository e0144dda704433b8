"""The bookings' demo: a room, a court, a visitor parking space and day-care slots in 木棉岭社区.
Idempotent: a resource whose name exists is left alone."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.bookings import service
from linli.bookings.schemas import ResourceIn
from linli.platform.hierarchy.repository import NodeRepository

# (service, name, kind, opens, closes, slot minutes, weekly limit, cancel before minutes)
DEMO_RESOURCES = (
    ("com_space_booking", "党群服务中心多功能活动室", "room", "08:00", "21:00", 60, 2, 120),
    ("com_space_booking", "社区篮球场", "court", "07:00", "22:00", 60, 3, 60),
    ("prop_parking", "访客车位 A01", "parking", "06:00", "22:00", 120, 2, 30),
    ("eld_day_care", "日间照料中心", "day_care", "08:00", "18:00", 240, 3, 720),
)


async def seed_bookings_demo(session: AsyncSession, scale: str) -> None:
    community = await NodeRepository(session).find_by_name("木棉岭社区")
    if community is None:
        return
    existing = {r.name for r in await service.list_resources(session, service=None, before_id=None, limit=500)}
    for code, name, kind, opens, closes, slot, weekly, cancel in DEMO_RESOURCES:
        if name in existing:
            continue
        data = ResourceIn.model_validate(
            {
                "node_id": community.id,
                "service": code,
                "name": name,
                "kind": kind,
                "opens": opens,
                "closes": closes,
                "slot_minutes": slot,
                "weekly_limit": weekly,
                "cancel_before_minutes": cancel,
            }
        )
        await service.create_resource(session, actor=None, data=data)
