"""Each tenant's resident-app services: on/off, order, names, per-service config. Never commits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal
from linli.platform.db import within_scopes
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.services.models import ServiceDefinition, TenantService
from linli.services.repository import ServiceRepository
from linli.services.schemas import AppBranding, AppConfig, AppSection, AppService, TenantServiceOut
from linli.tenants import lifecycle
from linli.tenants.models import Tenant


def to_out(ts: TenantService | None, sd: ServiceDefinition) -> TenantServiceOut:
    """A tenant's service, or (without `ts`) the catalog's as a new tenant starts with it: on, unrenamed."""
    if ts is None:
        ts = TenantService(enabled=True, position=sd.position, config={})
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


async def catalog(session: AsyncSession) -> list[TenantServiceOut]:
    return [to_out(None, sd) for sd in await ServiceRepository(session).catalog()]


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
    actor: Principal | None,
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


# The app's colour when the tenant's branding names none (Vant's primary blue).
DEFAULT_COLOR = "#1989fa"
# Free-choice reports (随手拍) belong to this service: switched off, the app takes only service reports.
FREE_REPORT_SERVICE = "com_report_issue"


def app_service(ts: TenantService, sd: ServiceDefinition) -> AppService:
    url = ts.config.get("url") if sd.kind == "link" else None
    return AppService(
        code=sd.code,
        section=sd.section_code,
        kind=sd.kind,
        name=ts.name or sd.name,
        name_en=ts.name_en or sd.name_en,
        item_code=sd.item_code,
        url=url if isinstance(url, str) else None,
    )


@dataclass(frozen=True)
class TenantApp:
    """A tenant's resident app: who it is, its branding, and its services in order (switched-on ones
    among them usable; a link service without its URL is not)."""

    id: int
    slug: str
    node_id: int
    node_path: str
    status: str
    name: str
    branding: AppBranding
    sections: tuple[AppSection, ...]
    # Every catalog service of the tenant, switched on or off, by its kind.
    kinds: Mapping[str, str]

    def services(self) -> list[AppService]:
        return [s for section in self.sections for s in section.services]

    def service(self, code: str, *, kind: str | None = None) -> AppService:
        """An enabled service (404 `unknown_service` / `service_disabled`; 409 `wrong_service_kind`)."""
        self.check_kind(code, kind)
        found = next((s for s in self.services() if s.code == code), None)
        if found is None:
            raise NotFound("service (switched off here)", code="service_disabled")
        return found

    def check_kind(self, code: str, kind: str | None) -> None:
        """A service of the tenant's catalog, of that kind (whether switched on or not)."""
        if code not in self.kinds:
            raise NotFound("service", code="unknown_service")
        if kind is not None and self.kinds[code] != kind:
            raise Conflict(f"{code} is a {self.kinds[code]} service, not {kind}", code="wrong_service_kind")

    def config(self) -> AppConfig:
        status: Literal["active", "suspended"] = "active" if self.status == "active" else "suspended"
        return AppConfig(
            tenant=self.slug, name=self.name, status=status, branding=self.branding, sections=list(self.sections)
        )


async def tenant_app(session: AsyncSession, *, slug: str) -> TenantApp:
    """A tenant's app (404 for an unknown or offboarded slug), read inside the tenant's own scope (it is
    public: a resident's own scope, an estate, does not hold the tenant's rows), then the caller's again."""
    found = await lifecycle.tenant_by_slug(session, slug=slug)
    if found is None:
        raise NotFound("tenant")
    async with within_scopes(session, [found.node_path]):
        tenant = await lifecycle.get_tenant(session, actor=None, tenant_id=found.id, permission=SERVICES_READ)
        node = await NodeService(session).get_visible(tenant.node_id)
        rows = await ServiceRepository(session).for_tenant(tenant.id)
    sections: dict[str, AppSection] = {}
    for ts, sd in rows:
        service = app_service(ts, sd)
        if not ts.enabled or (service.kind == "link" and service.url is None):
            continue
        section = sections.setdefault(
            sd.section_code,
            AppSection(code=sd.section_code, name=sd.section_name, name_en=sd.section_name_en, services=[]),
        )
        section.services.append(service)
    branding = tenant.branding
    return TenantApp(
        id=tenant.id,
        slug=tenant.slug,
        node_id=tenant.node_id,
        node_path=tenant.node_path,
        status=tenant.status,
        name=node.name,
        branding=AppBranding(
            app_name=str(branding.get("app_name") or node.name),
            primary_color=str(branding.get("primary_color") or DEFAULT_COLOR),
            logo_url=branding.get("logo_url"),
            welcome=branding.get("welcome"),
        ),
        sections=tuple(sections.values()),
        kinds={sd.code: sd.kind for _, sd in rows},
    )


async def app_config(session: AsyncSession, *, slug: str) -> AppConfig:
    """Public: the resident app of an active tenant."""
    app = await tenant_app(session, slug=slug)
    if app.status != "active":
        raise NotFound("tenant")
    return app.config()
