"""Each tenant's resident-app services: on/off, order, names, per-service config. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal
from linli.platform.db import apply_scopes
from linli.platform.errors import BadRequest, NotFound
from linli.services.models import ServiceDefinition, TenantService
from linli.services.repository import ServiceRepository
from linli.services.schemas import AppConfig, AppSection, TenantServiceOut
from linli.tenants import lifecycle
from linli.tenants.models import Tenant


def to_out(ts: TenantService, sd: ServiceDefinition) -> TenantServiceOut:
    return TenantServiceOut(
        code=sd.code,
        section=sd.section_code,
        section_name=sd.section_name,
        section_name_en=sd.section_name_en,
        kind=sd.kind,
        item_code=sd.item_code,
        enabled=ts.enabled,
        position=ts.position,
        name=ts.name or sd.name,
        name_en=ts.name_en or sd.name_en,
        catalog_name=sd.name,
        config=ts.config,
    )


def snapshot(ts: TenantService) -> dict[str, Any]:
    return {"enabled": ts.enabled, "position": ts.position, "name": ts.name, "name_en": ts.name_en, "config": ts.config}


async def apply_defaults(session: AsyncSession, tenant: Tenant) -> None:
    await ServiceRepository(session).apply_catalog(tenant_id=tenant.id, node_path=tenant.node_path)


SERVICES_READ = Permission("services", "read")
SERVICES_UPDATE = Permission("services", "update")


async def list_services(session: AsyncSession, *, actor: Principal, tenant_id: int) -> list[TenantServiceOut]:
    tenant = await lifecycle.get_tenant(session, actor=actor, tenant_id=tenant_id, permission=SERVICES_READ)
    return [to_out(ts, sd) for ts, sd in await ServiceRepository(session).for_tenant(tenant.id)]


def _validate_config(kind: str, config: dict[str, Any]) -> None:
    if kind == "link":
        url = config.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise BadRequest("a link service needs config.url starting with https://", code="invalid_service_config")


async def update_service(
    session: AsyncSession,
    *,
    actor: Principal,
    tenant_id: int,
    code: str,
    enabled: bool | None,
    name: str | None,
    name_en: str | None,
    config: dict[str, Any] | None,
) -> TenantServiceOut:
    tenant = await lifecycle.get_tenant(session, actor=actor, tenant_id=tenant_id, permission=SERVICES_UPDATE)
    repo = ServiceRepository(session)
    row = await repo.get(tenant.id, code)
    if row is None:
        raise NotFound("service", code="unknown_service")
    definition = await repo.definition(code)
    assert definition is not None  # the foreign key guarantees it
    before = snapshot(row)
    if enabled is not None:
        row.enabled = enabled
    if name is not None:
        row.name = name
    if name_en is not None:
        row.name_en = name_en
    if config is not None:
        _validate_config(definition.kind, config)
        row.config = config
    row.updated_at = datetime.now(UTC)
    await audit.record(
        session,
        actor=actor,
        action="service.update",
        object_type="tenant_service",
        object_id=f"{tenant.slug}/{code}",
        node_path=tenant.node_path,
        before=before,
        after=snapshot(row),
    )
    return to_out(row, definition)


async def reorder(
    session: AsyncSession, *, actor: Principal, tenant_id: int, codes: list[str]
) -> list[TenantServiceOut]:
    """Put `codes` first, in the given order; the other services keep their relative order after them."""
    tenant = await lifecycle.get_tenant(session, actor=actor, tenant_id=tenant_id, permission=SERVICES_UPDATE)
    rows = await ServiceRepository(session).for_tenant(tenant.id)
    known = {ts.service_code for ts, _ in rows}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise BadRequest(f"unknown service code(s): {', '.join(unknown[:5])}", code="unknown_service")
    if len(set(codes)) != len(codes):
        raise BadRequest("a service code is listed twice", code="duplicate_service")
    rank = {code: i for i, code in enumerate(codes)}
    ordered = sorted(rows, key=lambda r: (rank.get(r[0].service_code, len(codes)), r[0].position))
    for position, (ts, _) in enumerate(ordered):
        ts.position = position
    await audit.record(
        session,
        actor=actor,
        action="service.reorder",
        object_type="tenant_service",
        object_id=tenant.slug,
        node_path=tenant.node_path,
        after={"first": codes},
    )
    return [to_out(ts, sd) for ts, sd in ordered]


async def app_config(session: AsyncSession, *, slug: str) -> AppConfig:
    """Public: the resident app of an active tenant, scoped to that tenant alone."""
    found = await lifecycle.tenant_by_slug(session, slug=slug)
    if found is None or found.status != "active":
        raise NotFound("tenant")
    await apply_scopes(session, [found.node_path])
    tenant = await lifecycle.get_tenant(session, actor=None, tenant_id=found.id, permission=SERVICES_READ)
    sections: dict[str, AppSection] = {}
    for ts, sd in await ServiceRepository(session).for_tenant(tenant.id):
        if not ts.enabled:
            continue
        section = sections.setdefault(
            sd.section_code,
            AppSection(code=sd.section_code, name=sd.section_name, name_en=sd.section_name_en, services=[]),
        )
        section.services.append(to_out(ts, sd))
    return AppConfig(tenant=tenant.slug, branding=tenant.branding, sections=list(sections.values()))
