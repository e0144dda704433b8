"""A tenant's life: onboarding, settings and branding, suspension, offboarding, export and purge.
Never commits: the request or job boundary does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import access, audit
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import BadRequest, Conflict, Forbidden
from linli.platform.hierarchy.repository import tables_with_node_path
from linli.platform.hierarchy.service import NodeService
from linli.tenants.grants import TENANT_ADMIN_ROLE, grant_role
from linli.tenants.models import Tenant, User
from linli.tenants.repository import TenantRepository, TenantSlug, UserRepository
from linli.tenants.service import ensure_user, invitation_for, normalise_login, now

OnboardingHook = Callable[[AsyncSession, Tenant], Awaitable[None]]
# The defaults other domains apply to a new tenant (service catalog, routing); filled by `linli.wiring`.
ONBOARDING_HOOKS: list[OnboardingHook] = []

# What other domains count under a tenant's node for the tenant list ("devices", "open_events"),
# each as many as the caller may see; registered by `linli.wiring`.
TenantCounter = Callable[[AsyncSession, str], Awaitable[int]]
TENANT_COUNTERS: dict[str, TenantCounter] = {}

TENANTS_READ = Permission("tenants", "read")
TENANTS_OFFBOARD = Permission("tenants", "offboard")


def tenant_snapshot(tenant: Tenant) -> dict[str, Any]:
    return {
        "slug": tenant.slug,
        "status": tenant.status,
        "branding": tenant.branding,
        "settings": tenant.settings,
        "node_id": tenant.node_id,
    }


@dataclass
class Onboarded:
    tenant: Tenant
    admin: User
    invitation_token: str | None
    invitation_expires_at: datetime | None


async def onboard(
    session: AsyncSession,
    *,
    actor: Principal | None,
    slug: str,
    admin_email: str,
    node_id: int | None = None,
    community_name: str | None = None,
    parent_street_id: int | None = None,
    branding: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Onboarded:
    """Onboard a street or community as a tenant: one transaction and one audit entry (the steps it
    took, such as creating the community node, granting the administrator and applying every domain's
    defaults, are listed inside that entry)."""
    admin_email = normalise_login(admin_email)
    nodes = NodeService(session)
    onboarding = Permission("tenants", "onboard")
    async with audit.bundled(session) as steps:
        if node_id is not None:
            if community_name is not None or parent_street_id is not None:
                raise BadRequest(
                    "give node_id, or community_name with parent_street_id, not both", code="node_ambiguous"
                )
            node = await nodes.get_for(actor, node_id, onboarding)
        elif community_name and parent_street_id is not None:
            street = await nodes.get_for(actor, parent_street_id, onboarding)
            if street.level != "street":
                raise BadRequest("parent_street_id must name a street", code="not_a_street")
            node = await nodes.create(actor=actor, parent=street, name=community_name)
        else:
            raise BadRequest("give node_id, or community_name with parent_street_id", code="node_required")
        if node.level not in TENANT_ADMIN_ROLE:
            raise BadRequest("only a street or a community can be a tenant", code="not_a_tenant_level")
        if node.archived_at is not None:
            raise BadRequest(f"{node.name} is archived", code="node_archived")
        repo = TenantRepository(session)
        if await repo.by_node(node.id) is not None:
            raise Conflict(f"{node.name} is already onboarded", code="tenant_exists")
        if await repo.by_slug(slug) is not None:
            raise Conflict(f"slug {slug!r} is taken", code="slug_taken")
        tenant = Tenant(
            node_id=node.id,
            node_path=node.node_path,
            slug=slug,
            status="active",
            branding=branding or {},
            settings=settings or {},
        )
        try:
            # Slugs are unique across every district (offboarded tenants' too, which the look-up above
            # does not find): the unique index has the last word.
            async with session.begin_nested():
                repo.add(tenant)
                await session.flush()
        except IntegrityError as exc:
            if "uq_tenants_node_id" in str(exc.orig):
                raise Conflict(f"{node.name} is already onboarded", code="tenant_exists") from exc
            raise Conflict(f"slug {slug!r} is taken", code="slug_taken") from exc
        admin = await ensure_user(
            session, email=admin_email, display_name=admin_email.split("@")[0], home_node_path=node.node_path
        )
        await grant_role(session, actor=None, user=admin, role=TENANT_ADMIN_ROLE[node.level], node=node)
        token, expires = await invitation_for(session, admin, actor=actor)
        for hook in ONBOARDING_HOOKS:
            await hook(session, tenant)
    await audit.record(
        session,
        actor=actor,
        action="tenant.onboard",
        object_type="tenant",
        object_id=tenant.id,
        node_path=node.node_path,
        after=tenant_snapshot(tenant) | {"admin_email": admin_email, "admin_user_id": str(admin.id), "steps": steps},
    )
    return Onboarded(tenant, admin, token, expires)


async def get_tenant(
    session: AsyncSession,
    *,
    actor: Principal | None,
    tenant_id: int,
    permission: Permission | tuple[str, str],
    write: bool | None = None,
) -> Tenant:
    """The tenant, for `actor` to do `permission` on (see `access.access_object`)."""
    tenant = await TenantRepository(session).get(tenant_id)
    return await access_object(session, actor, tenant, permission=permission, what="tenant", write=write)


async def tenant_by_slug(session: AsyncSession, *, slug: str) -> TenantSlug | None:
    """The one look-up of a tenant by its slug, for any caller in any scope (public paths such as the
    resident app and Open311 look the tenant up before there is a scope); offboarded tenants are not
    found."""
    return await TenantRepository(session).by_slug(slug)


async def list_tenants(
    session: AsyncSession, *, status: str | None, after_id: int | None, limit: int
) -> Sequence[Tenant]:
    return await TenantRepository(session).list(status=status, after_id=after_id, limit=limit)


async def tenant_counts(session: AsyncSession, *, tenant: Tenant) -> dict[str, int]:
    """The people holding a role in the tenant and each registered domain's count, under its node."""
    counts = {"users": await UserRepository(session).count_users_under(tenant.node_path)}
    for name, counter in TENANT_COUNTERS.items():
        counts[name] = await counter(session, tenant.node_path)
    return counts


async def effective_settings(session: AsyncSession, *, tenant: Tenant) -> dict[str, Any]:
    """A community tenant inherits the settings of the street tenant around it unless it overrides them
    (the street's row is read through `linli_tenant_chain`: a community-level caller cannot see it)."""
    merged: dict[str, Any] = {}
    for outer in await access.tenant_chain(session, tenant.node_path):
        merged |= outer.settings
    return merged | tenant.settings


def depth(node_path: str) -> int:
    return node_path.count(".") + 1


async def status_grant(session: AsyncSession, *, actor: Principal, tenant: Tenant) -> access.Grant:
    """The caller's highest grant that may suspend, reactivate or offboard `tenant`. Those are decisions
    of the levels above: a grant at the tenant's own node (its administrators hold `*` there) or below
    does not count (403; 404 if the caller cannot see the tenant at all). Inside a suspended street
    nothing changes, its communities' status included; what a level suspended, only that level or a
    higher one reactivates or offboards."""
    # The tenant itself may well be read-only (that is what a status change is about): its parent's
    # writability is what counts.
    await access_object(session, actor, tenant, permission=TENANTS_OFFBOARD, what="tenant", write=False)
    above = [g for g in actor.grants_above(tenant.node_path) if access.role_permits(g.role, *TENANTS_OFFBOARD)]
    if not above:
        raise Forbidden("only a grant above the tenant may change its status", code="status_change_from_above")
    await access.assert_writable(session, tenant.node_path.rpartition(".")[0])
    highest = min(above, key=lambda g: depth(g.node_path))
    # What the district suspended, a street does not lift.
    if tenant.status == "suspended" and depth(highest.node_path) > (
        tenant.suspended_by_depth or depth(highest.node_path)
    ):
        raise Forbidden("the tenant was suspended from higher up the tree", code="suspended_from_above")
    return highest


async def update_tenant(
    session: AsyncSession,
    *,
    actor: Principal,
    tenant_id: int,
    branding: dict[str, Any] | None,
    settings: dict[str, Any] | None,
    status: str | None,
) -> Tenant:
    """Branding and settings, or suspending and reactivating (a suspended tenant is read-only: only its
    status may change)."""
    # Which permission applies depends on what changes: each is checked below.
    tenant = await get_tenant(session, actor=None, tenant_id=tenant_id, permission=TENANTS_READ)
    before = tenant_snapshot(tenant)
    if status is not None and status != tenant.status:
        deciding = await status_grant(session, actor=actor, tenant=tenant)
        if tenant.status == "offboarded":
            raise Conflict("an offboarded tenant cannot change status", code="tenant_offboarded")
        tenant.status = status
        tenant.suspended_at = now() if status == "suspended" else None
        tenant.suspended_by_depth = depth(deciding.node_path) if status == "suspended" else None
        await session.flush()
    if branding is not None or settings is not None:
        await access_object(session, actor, tenant, permission=("tenants", "update"), what="tenant")
        if branding is not None:
            tenant.branding = {**tenant.branding, **branding}
        if settings is not None:
            tenant.settings = {**tenant.settings, **settings}
    await audit.record(
        session,
        actor=actor,
        action="tenant.update",
        object_type="tenant",
        object_id=tenant.id,
        node_path=tenant.node_path,
        before=before,
        after=tenant_snapshot(tenant),
    )
    return tenant


OFFBOARD_GRACE = timedelta(days=30)


async def offboard(session: AsyncSession, *, actor: Principal, tenant_id: int) -> Tenant:
    """Offboarding suspends the tenant for good (read-only, its data exportable) and schedules its
    data for deletion after a grace period (`purge_offboarded`)."""
    tenant = await get_tenant(session, actor=None, tenant_id=tenant_id, permission=TENANTS_READ)
    await status_grant(session, actor=actor, tenant=tenant)
    if tenant.status == "offboarded":
        raise Conflict("tenant is already offboarded", code="tenant_offboarded")
    before = tenant_snapshot(tenant)
    tenant.status = "offboarded"
    tenant.suspended_at = now()
    tenant.delete_after = now() + OFFBOARD_GRACE
    await audit.record(
        session,
        actor=actor,
        action="tenant.offboard",
        object_type="tenant",
        object_id=tenant.id,
        node_path=tenant.node_path,
        before=before,
        after=tenant_snapshot(tenant) | {"delete_after": tenant.delete_after.isoformat()},
    )
    return tenant


async def export_tenant(session: AsyncSession, *, actor: Principal, tenant_id: int) -> tuple[Tenant, dict[str, Any]]:
    """The tenant's rows in every tenant-owned table the caller's role may read, one key per table
    (nodes, locations, grants, API keys, the audit log and every domain's tables): the offboarding
    archive, audited as one export (it holds the residents' data). The tenant's own row is left to the
    caller to render."""
    tenant = await get_tenant(session, actor=actor, tenant_id=tenant_id, permission=("tenants", "export"))
    repo = TenantRepository(session)
    tables = {}
    for table in await tables_with_node_path(session, privilege="SELECT"):
        tables[table] = await repo.export_rows(table, tenant.node_path)
    await audit.record(
        session,
        actor=actor,
        action="tenant.export",
        object_type="tenant",
        object_id=tenant.id,
        node_path=tenant.node_path,
        after={"rows": {table: len(rows) for table, rows in tables.items()}},
    )
    return tenant, tables


# The tree itself (nodes, buildings) belongs to the district and stays; the audit log is append-only.
PURGE_KEEPS = frozenset({"nodes", "locations", "audit_log", "audit_heads", "tenants"})


async def purge_offboarded(session: AsyncSession, *, at: datetime | None = None) -> list[str]:
    """Delete the data of every offboarded tenant whose grace period has ended (idempotent; runs as a
    job and as `linli tenants purge` with the system scope). Returns the purged slugs."""
    at = at or now()
    purged: list[str] = []
    for tenant in await TenantRepository(session).due_for_purge(at):
        counts = await TenantRepository(session).delete_tenant_rows(tenant.node_path, keep=PURGE_KEEPS)
        await audit.record(
            session,
            actor=None,
            actor_label="system:purge",
            action="tenant.purge",
            object_type="tenant",
            object_id=tenant.id,
            node_path=tenant.node_path,
            before=tenant_snapshot(tenant),
            after={"deleted_rows": counts},
        )
        purged.append(tenant.slug)
        # The node can be onboarded afresh; the audit log keeps the tenant's history.
        await TenantRepository(session).delete(tenant)
    return purged
