"""Which tenant's app a request is for, and where the caller stands in it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import Permission, Principal, TenantRef, path_within, role_permits, tenant_chain
from linli.platform.errors import BadRequest, Forbidden, NotFound
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.service import NodeService
from linli.services.service import TenantApp, tenant_app


@dataclass(frozen=True)
class AppContext:
    app: TenantApp
    actor: Principal
    # The caller's places in the tenant: the nodes of their grants inside it (a resident's estate), or
    # the tenant's own node for a grant above it (a district administrator looking at the app).
    paths: tuple[str, ...]

    @property
    def resident_paths(self) -> tuple[str, ...]:
        return tuple(
            sorted({g.node_path for g in self.actor.grants if g.role == "resident" and self.inside(g.node_path)})
        )

    def inside(self, path: str) -> bool:
        return path_within(path, self.app.node_path)

    @property
    def viewer_path(self) -> str | None:
        """The caller's estate, or None for staff looking at the app (they see all of the tenant's)."""
        return self.resident_paths[0] if self.resident_paths else None

    def resident_path(self) -> str:
        """Where the caller lives in this tenant (their first estate): what they sign up, book and earn as."""
        if not self.resident_paths:
            raise Forbidden("only a resident of this community can do this", code="not_a_resident")
        return self.resident_paths[0]


async def app_context(session: AsyncSession, *, slug: str, actor: Principal) -> AppContext:
    """404 for a tenant the caller holds no grant in, around or above (like any other tenant's object)."""
    app = await tenant_app(session, slug=slug)
    paths: set[str] = set()
    for grant in actor.grants:
        if path_within(grant.node_path, app.node_path):
            paths.add(grant.node_path)
        elif path_within(app.node_path, grant.node_path):
            paths.add(app.node_path)
    if not paths:
        raise NotFound("tenant")
    return AppContext(app, actor, tuple(sorted(paths)))


def acts_as_staff(actor: Principal, permission: Permission, path: str | None = None) -> bool:
    """Whether a role other than `resident` allows `permission` (at `path`, or anywhere): residents hold
    the same permissions for their own rows only (the passes they issued, the items they offered)."""
    grants = actor.grants if path is None else actor.grants_covering(path)
    return any(g.role != "resident" and role_permits(g.role, *permission) for g in grants)


async def staff_place(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_id: int,
    permission: Permission,
    service: str | None = None,
    kind: str | None = None,
) -> tuple[Node, TenantRef]:
    """The node a staff member places something at (an activity, a bookable resource, a reward) and the
    tenant that owns it, whose catalog must hold `service` of `kind` (switched on or not) when named."""
    node = await NodeService(session).get_for(actor, node_id, permission)
    chain = await tenant_chain(session, node.node_path)
    if not chain:
        raise BadRequest("the node lies in no tenant", code="no_tenant")
    if service is not None:
        (await tenant_app(session, slug=chain[-1].slug)).check_kind(service, kind)
    return node, chain[-1]
