"""The resident app's demo: published notices in 木棉岭社区 (one pinned for the whole community, one for
悦峰尚府) and in 南虹村社区, the URLs of 木棉岭's link services, and a request to join waiting for staff.
Idempotent: what exists is left alone."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.hierarchy.repository import NodeRepository
from linli.residentapp import notices
from linli.residentapp.models import JoinRequest
from linli.residentapp.repository import AppRepository
from linli.services import service as services
from linli.tenants.lifecycle import tenant_by_slug

# (node name, service, title, Markdown body, pinned)
DEMO_NOTICES = (
    (
        "木棉岭社区",
        "com_announcements",
        "关于开展消防安全检查的通知",
        "各位居民：\n\n社区将于**本周六 9:00–17:00** 开展楼道消防安全检查，请清理楼道杂物，"
        "保持消防通道畅通。\n\n- 电动车请勿进楼入梯\n- 如有疑问请拨打社区电话",
        True,
    ),
    (
        "悦峰尚府",
        "prop_notice",
        "悦峰尚府二次供水水箱清洗停水通知",
        "因二次供水水箱清洗，**明日 9:00–15:00** 3、5、7 栋暂停供水，请提前储水。给您带来不便，敬请谅解。",
        False,
    ),
    (
        "南虹村社区",
        "com_announcements",
        "南虹村社区长者助餐点开放通知",
        "社区长者食堂即日起开放，**60 岁以上**居民凭身份证用餐享受补贴。",
        True,
    ),
)
LINK_URLS = {
    "prop_fees": "https://pay.mumianling.example/fees",
    "com_delivery_1km": "https://delivery.mumianling.example/",
    "med_health_records": "https://health.mumianling.example/records",
}
DEMO_APPLICANT = ("13900000099", "王小明", "悦峰尚府", "302")


async def seed_resident_app_demo(session: AsyncSession, scale: str) -> None:
    nodes = NodeRepository(session)
    for node_name, service, title, body, pinned in DEMO_NOTICES:
        node = await nodes.find_by_name(node_name)
        if node is None:
            continue
        existing, _ = await notices.list_notices(
            session, node_id=node.id, status=None, service=service, before_id=None, limit=100
        )
        if any(n.title == title for n in existing):
            continue
        notice = await notices.create_notice(
            session,
            actor=None,
            node_id=node.id,
            service=service,
            title=title,
            body=body,
            pinned=pinned,
            publish_from=None,
            publish_until=None,
        )
        await notices.set_status(session, actor=None, notice_id=notice.id, status="published")
    mumianling = await tenant_by_slug(session, slug="mumianling")
    if mumianling is None:
        return
    linked = {s.code for s in (await services.tenant_app(session, slug="mumianling")).services() if s.url}
    for code, url in LINK_URLS.items():
        if code in linked:
            continue
        await services.update_service(
            session,
            actor=None,
            tenant_id=mumianling.id,
            code=code,
            enabled=None,
            name=None,
            name_en=None,
            config={"url": url},
        )
    phone, name, estate_name, room = DEMO_APPLICANT
    estate = await nodes.find_by_name(estate_name)
    repo = AppRepository(session)
    if estate is not None and await repo.latest_join_request(tenant_id=mumianling.id, phone=phone) is None:
        repo.add(
            JoinRequest(
                tenant_id=mumianling.id,
                node_id=estate.id,
                node_path=estate.node_path,
                phone=phone,
                name=name,
                room=room,
                status="pending",
            )
        )
