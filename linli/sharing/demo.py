"""Sharing's demo: 木棉岭社区's tool box kept by its staff, and a found bunch of keys. Idempotent."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.hierarchy.repository import NodeRepository
from linli.sharing import service
from linli.sharing.schemas import ItemCreate
from linli.tenants.service import principal_for, user_by_phone

KEEPER = "staff@mumianling.demo"

ITEMS = (
    ("prop_tool_box", "offer", "冲击钻", "含 6/8/10 mm 钻头，借用请登记，3 天内归还"),
    ("prop_tool_box", "offer", "人字梯（2 米）", "放在物业服务中心"),
    ("prop_tool_box", "offer", "打气筒", "自行车、球类通用"),
    ("com_lost_found", "found", "钥匙一串", "在 3 栋电梯口拾到，请到物业服务中心认领"),
)


async def seed_sharing_demo(session: AsyncSession, scale: str) -> None:
    node = await NodeRepository(session).find_by_name("木棉岭社区")
    keeper = await user_by_phone(session, phone=KEEPER)
    if node is None or keeper is None:
        return
    actor = await principal_for(session, keeper)
    kept = await service.list_items(session, node_id=node.id, service=None, kind=None, before_id=None, limit=200)
    titles = {i.title for i in kept}
    for code, kind, title, description in ITEMS:
        if title not in titles:
            body = ItemCreate(service=code, kind=kind, title=title, description=description)
            await service.keep_item(session, actor=actor, node_id=node.id, body=body)
