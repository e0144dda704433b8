"""The passes' demo: the demo resident of 悦峰尚府 (木棉岭社区) has a visitor pass for the coming days,
and the tenant its signing key. Idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli.passes import keys
from linli.passes.models import Pass
from linli.passes.repository import PassRepository
from linli.platform.hierarchy.repository import NodeRepository
from linli.tenants.lifecycle import tenant_by_slug
from linli.tenants.service import now, user_by_phone

RESIDENT = "13800000001"


async def seed_passes_demo(session: AsyncSession, scale: str) -> None:
    tenant = await tenant_by_slug(session, slug="mumianling")
    estate = await NodeRepository(session).find_by_name("悦峰尚府")
    resident = await user_by_phone(session, phone=RESIDENT)
    if tenant is None or estate is None or resident is None:
        return
    await keys.tenant_key(session, tenant_id=tenant.id, tenant_path=tenant.node_path)
    repo = PassRepository(session)
    if await repo.list(within_path=None, issued_by=resident.id, before_id=None, limit=1):
        return
    at = now()
    repo.add(
        Pass(
            tenant_id=tenant.id,
            node_id=estate.id,
            node_path=estate.node_path,
            service_code="prop_visitor_pass",
            kind="visitor",
            issued_by=resident.id,
            visitor_name="张师傅（家电维修）",
            plate="川A8K2X6",
            valid_from=at,
            valid_until=at + timedelta(days=2),
            uses_allowed=3,
            uses_left=3,
            created_at=at,
        )
    )
