from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.services.models import ServiceDefinition, TenantService


class ServiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_tenant(self, tenant_id: int) -> Sequence[tuple[TenantService, ServiceDefinition]]:
        stmt = (
            select(TenantService, ServiceDefinition)
            .join(ServiceDefinition, ServiceDefinition.code == TenantService.service_code)
            .where(TenantService.tenant_id == tenant_id)
            .order_by(TenantService.position, TenantService.id)
        )
        return [(ts, sd) for ts, sd in (await self.session.execute(stmt)).all()]

    async def get(self, tenant_id: int, code: str) -> TenantService | None:
        stmt = select(TenantService).where(TenantService.tenant_id == tenant_id, TenantService.service_code == code)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def catalog(self) -> Sequence[ServiceDefinition]:
        stmt = select(ServiceDefinition).order_by(ServiceDefinition.position)
        return (await self.session.execute(stmt)).scalars().all()

    async def definition(self, code: str) -> ServiceDefinition | None:
        return await self.session.get(ServiceDefinition, code)

    async def apply_catalog(self, *, tenant_id: int, node_path: str) -> None:
        """Every catalog service, on, in catalog order; services the tenant already has stay as they are."""
        await self.session.execute(
            text(
                "insert into tenant_services (tenant_id, node_path, service_code, position) "
                "select :tenant_id, text2ltree(:path), code, position from service_definitions "
                "on conflict (tenant_id, service_code) do nothing"
            ),
            {"tenant_id": tenant_id, "path": node_path},
        )
