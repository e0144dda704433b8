from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from linli.platform.access import DbSession
from linli.platform.ids import Id
from linli.platform.pagination import Page
from linli.services import service
from linli.services.permissions import ServicesRead, ServicesUpdate
from linli.services.schemas import AppConfig, ServiceOrder, TenantServiceOut, TenantServiceUpdate

router = APIRouter(prefix="/api/v1/tenants/{tenant_id}/services", tags=["services"])
app_router = APIRouter(prefix="/api/v1/app", tags=["resident app"])
catalog_router = APIRouter(prefix="/api/v1/services", tags=["services"])

# Routes anyone may call (the resident app loads its configuration before anyone signs in).
PUBLIC_PATHS = ("/api/v1/app/{slug}/config",)
Slug = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["mumianling"])]


@catalog_router.get("/catalog", operation_id="list_service_catalog")
async def list_service_catalog(session: DbSession, principal: ServicesRead) -> Page[TenantServiceOut]:
    """The shipped catalog as a new tenant starts with it (every service on, in catalog order): what
    onboarding offers to start with."""
    return Page(items=await service.catalog(session))


@router.get("", operation_id="list_tenant_services")
async def list_tenant_services(tenant_id: Id, session: DbSession, principal: ServicesRead) -> Page[TenantServiceOut]:
    """All 72 catalog services with the tenant's switches, order and names (one page: the catalog is small)."""
    return Page(items=await service.list_services(session, actor=principal, tenant_id=tenant_id))


@router.patch("/{code}", operation_id="update_tenant_service")
async def update_tenant_service(
    tenant_id: Id,
    code: str,
    body: TenantServiceUpdate,
    session: DbSession,
    principal: ServicesUpdate,
) -> TenantServiceOut:
    return await service.update_service(
        session,
        actor=principal,
        tenant_id=tenant_id,
        code=code,
        enabled=body.enabled,
        name=body.name,
        name_en=body.name_en,
        config=body.config,
    )


@router.put("/order", operation_id="order_tenant_services")
async def order_tenant_services(
    tenant_id: Id,
    body: ServiceOrder,
    session: DbSession,
    principal: ServicesUpdate,
) -> Page[TenantServiceOut]:
    return Page(items=await service.reorder(session, actor=principal, tenant_id=tenant_id, codes=body.codes))


@app_router.get("/{slug}/config", operation_id="get_resident_app_config")
async def get_resident_app_config(slug: Slug, session: DbSession) -> AppConfig:
    """Branding and the switched-on services by section, in the tenant's order (anyone may read it)."""
    return await service.app_config(session, slug=slug)
