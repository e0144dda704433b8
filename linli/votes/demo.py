"""The votes' demo: an open deliberation for 木棉岭社区's households. Idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.hierarchy.repository import NodeRepository
from linli.tenants.service import now
from linli.votes import service
from linli.votes.schemas import VoteCreate

TITLE = "电动车集中充电桩选址"
OPTIONS = ["3 栋北侧空地", "地下车库 B1 区", "小区东门停车场"]


async def seed_votes_demo(session: AsyncSession, scale: str) -> None:
    node = await NodeRepository(session).find_by_name("木棉岭社区")
    if node is None:
        return
    if any(v.title == TITLE for v in await service.list_votes(session, node_id=node.id, before_id=None, limit=100)):
        return
    at = now()
    body = VoteCreate(
        node_id=node.id,
        service="party_deliberation",
        title=TITLE,
        description="为解决电动车进楼充电的消防隐患，请各户选择充电桩建设位置（每户一票）。",
        options=OPTIONS,
        ballot_per="household",
        anonymous=False,
        opens_at=at - timedelta(hours=1),
        closes_at=at + timedelta(days=7),
    )
    await service.create_vote(session, actor=None, body=body)
