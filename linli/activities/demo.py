"""The activities' demo: three coming activities in 木棉岭社区 (a health check, a volunteer shift, a class
for seniors). Idempotent: an activity whose title exists is left alone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from linli.activities import service
from linli.activities.schemas import ActivityIn
from linli.platform.hierarchy.repository import NodeRepository
from linli.platform.settings import get_settings
from linli.tenants.service import now

# (service, title, place, days ahead, capacity, volunteer hours)
DEMO_ACTIVITIES = (
    ("com_activities", "社区义诊进小区", "木棉岭社区党群服务中心", 3, 30, "0"),
    ("party_volunteer", "周末楼道清洁志愿服务", "悦峰尚府 3 栋", 5, 10, "2"),
    ("eld_center_activities", "长者太极课", "社区长者中心", 7, 20, "0"),
)


async def seed_activities_demo(session: AsyncSession, scale: str) -> None:
    community = await NodeRepository(session).find_by_name("木棉岭社区")
    if community is None:
        return
    existing = {a.title for a in await service.list_activities(session, service=None, before_id=None, limit=500)}
    today = now().astimezone(ZoneInfo(get_settings().time_zone)).date()
    for code, title, place, days, capacity, hours in DEMO_ACTIVITIES:
        if title in existing:
            continue
        starts = datetime.combine(today + timedelta(days=days), time(9), tzinfo=ZoneInfo(get_settings().time_zone))
        await service.create_activity(
            session,
            actor=None,
            data=ActivityIn(
                node_id=community.id,
                service=code,
                title=title,
                place=place,
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                signup_deadline=starts - timedelta(hours=12),
                capacity=capacity,
                volunteer_hours=Decimal(hours),
            ),
        )
