"""Access control, lock 1: who may do what, where. Lock 2 is row-level security (see `rls.py`).

A principal (a user or an API key) holds grants: a role at a node, valid for the node's whole subtree.
Role permissions live in `policies/` and are evaluated by casbin. Every endpoint declares its
permission with `require(resource, action)`, which also puts on the request's database session the
scopes of the grants that carry that permission, so that row-level security shows only rows under them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Protocol, TypeVar

import casbin
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.db import apply_scopes, engine_kind, session_factory
from linli.platform.errors import BadRequest, Forbidden, LinliError, NotFound, Unauthenticated
from linli.platform.security import decode_access_token, sha256_hex

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
ROLES = (
    "district_admin",
    "street_admin",
    "community_admin",
    "community_staff",
    "grid_worker",
    "property_manager",
    "auditor",
    "resident",
    "integration",
)
API_KEY_PREFIX = "lk_"
# The roles an administrative role may hand out at or below its node (people and API keys alike).
# Every other role may only pass on its own role. Nobody creates a role above their own.
GRANTABLE_ROLES: dict[str, frozenset[str]] = {
    "district_admin": frozenset(ROLES),
    "street_admin": frozenset(ROLES) - {"district_admin"},
    "community_admin": frozenset(ROLES) - {"district_admin", "street_admin"},
}
# Roles that see only their own records (their reports, their household) where they are granted, even
# when their role may read the resource; the domains narrow rows under such grants to the caller's own.
OWN_RECORDS_ROLES = frozenset({"resident"})


@cache
def enforcer() -> casbin.Enforcer:
    return casbin.Enforcer(str(POLICY_DIR / "model.conf"), str(POLICY_DIR / "permissions.csv"))


def role_permits(role: str, resource: str, action: str) -> bool:
    return bool(enforcer().enforce(role, resource, action))


def path_within(path: str, ancestor: str) -> bool:
    """ltree `<@` in Python: is `path` the node `ancestor` or below it?"""
    return ancestor == "" or path == ancestor or path.startswith(ancestor + ".")


@dataclass(frozen=True)
class Grant:
    role: str
    node_id: int
    node_path: str


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "api_key"]
    id: uuid.UUID
    grants: tuple[Grant, ...]
    display_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(sorted({g.node_path for g in self.grants}))

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)

    def grants_covering(self, node_path: str) -> list[Grant]:
        return [g for g in self.grants if path_within(node_path, g.node_path)]

    def can(self, resource: str, action: str, node_path: str) -> bool:
        return any(role_permits(g.role, resource, action) for g in self.grants_covering(node_path))

    def can_anywhere(self, resource: str, action: str) -> bool:
        return any(role_permits(role, resource, action) for role in self.roles)

    def scopes_for(self, resource: str, action: str) -> tuple[str, ...]:
        """The paths where this principal may do `action` on `resource`."""
        return tuple(sorted({g.node_path for g in self.grants if role_permits(g.role, resource, action)}))

    def full_scopes_for(self, resource: str, action: str) -> tuple[str, ...]:
        """Like `scopes_for`, without the grants of roles that see only their own records there."""
        return tuple(
            sorted(
                {
                    g.node_path
                    for g in self.grants
                    if g.role not in OWN_RECORDS_ROLES and role_permits(g.role, resource, action)
                }
            )
        )

    def grants_above(self, node_path: str) -> list[Grant]:
        """The grants at a strict ancestor of `node_path` (a grant at the node itself is not one)."""
        return [g for g in self.grants_covering(node_path) if g.node_path != node_path]

    def is_only(self, role: str) -> bool:
        return self.roles == {role}

    def authorize(self, resource: str, action: str, node_path: str, *, what: str = "object") -> None:
        """404 when the node lies outside every grant (indistinguishable from missing), 403 when the
        caller can see it but its roles there do not allow the action."""
        covering = self.grants_covering(node_path)
        if not covering:
            raise NotFound(what)
        if not any(role_permits(g.role, resource, action) for g in covering):
            raise Forbidden(f"your role does not allow {resource}:{action} here")

    def may_grant(self, role: str, node_path: str) -> bool:
        """May this principal hand out `role` at `node_path` (no privilege escalation)?"""
        return any(role in GRANTABLE_ROLES.get(g.role, {g.role}) for g in self.grants_covering(node_path))

    def home_node_id(self) -> int:
        """The node a query defaults to when the caller names none: that of the caller's grants."""
        nodes = {g.node_id for g in self.grants}
        if len(nodes) != 1:
            raise BadRequest("you hold grants at several nodes: name one with node_id", code="node_required")
        return nodes.pop()

    @property
    def actor_role(self) -> str:
        return ",".join(sorted(self.roles))


TENANT_CHAIN = text("select id, node_path::text, slug, status, settings from linli_tenant_chain(text2ltree(:p))")


@dataclass(frozen=True)
class TenantRef:
    id: int
    node_path: str
    slug: str
    status: str
    settings: dict[str, Any]


async def tenant_chain(session: AsyncSession, node_path: str) -> list[TenantRef]:
    """The tenants around `node_path`, outermost first; the last one owns the path. Read through a
    reviewed SECURITY DEFINER function: a community-level caller cannot see its street's tenant row."""
    rows = await session.execute(TENANT_CHAIN, {"p": node_path})
    return [TenantRef(*row) for row in rows]


async def read_only_tenant(session: AsyncSession, node_path: str) -> TenantRef | None:
    """The suspended or offboarded tenant around `node_path` that makes it read-only, if any."""
    return next((t for t in await tenant_chain(session, node_path) if t.status != "active"), None)


async def assert_writable(session: AsyncSession, node_path: str) -> None:
    """Suspended and offboarded tenants (and everything inside them) are read-only. Every service that
    changes tenant data calls this with the path it writes to."""
    if tenant := await read_only_tenant(session, node_path):
        raise Forbidden(f"tenant {tenant.slug} is {tenant.status} and read-only", code="tenant_read_only")


class Permission(NamedTuple):
    resource: str
    action: str


# Every permission the code checks: each `require(...)`, and those services check themselves, declared
# with `checked(...)`. `GET /me/permissions` expands the policies' "*" over these (and the policy file's).
CHECKED_PERMISSIONS: set[Permission] = set()


def checked(resource: str, action: str) -> Permission:
    """A permission a service checks itself (`principal.can(*permission, path)`), named once."""
    permission = Permission(resource, action)
    CHECKED_PERMISSIONS.add(permission)
    return permission


# Actions that change nothing: everything else needs the tenant to be writable.
READ_ONLY_ACTIONS = frozenset({"read", "export"})


class Placed(Protocol):
    """A row that lives at a node of the tree (every tenant-owned row has a node_path)."""

    @property
    def node_path(self) -> str: ...


PlacedT = TypeVar("PlacedT", bound=Placed)


async def access_object(
    session: AsyncSession,
    principal: Principal | None,
    row: PlacedT | None,
    *,
    permission: Permission | tuple[str, str],
    what: str,
    write: bool | None = None,
) -> PlacedT:
    """The one way to take hold of an object the caller acts on (cf. Zulip's `access_stream_by_id`):
    404 when it is missing or outside every grant, 403 when the caller's roles at its node do not allow
    `permission`, 403 `tenant_read_only` when the action writes and its tenant is suspended or
    offboarded. `write` defaults to every action but read and export; pass False for what only ever
    reduces access (revoking). `principal` None is the system (jobs, seeding): no role check."""
    if row is None:
        raise NotFound(what)
    resource, action = permission
    if principal is not None:
        principal.authorize(resource, action, row.node_path, what=what)
    if action not in READ_ONLY_ACTIONS if write is None else write:
        await assert_writable(session, row.node_path)
    return row


async def load_user_principal(session: AsyncSession, user_id: uuid.UUID, display_name: str = "") -> Principal:
    rows = await session.execute(
        text("select role, node_id, node_path::text from linli_principal_grants(:uid)"), {"uid": user_id}
    )
    grants = tuple(Grant(role, node_id, path) for role, node_id, path in rows)
    return Principal("user", user_id, grants, display_name)


async def _principal_from_api_key(session: AsyncSession, raw: str) -> Principal | None:
    # Format: lk_<prefix>_<secret>; the lookup compares the secret's hash itself and returns the key
    # (never the stored hash) only on a match.
    parts = raw.split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != API_KEY_PREFIX:
        return None
    row = (
        await session.execute(
            text("select id, roles, node_id, node_path::text, name, source from linli_api_key_lookup(:p, :h)"),
            {"p": parts[1], "h": sha256_hex(parts[2])},
        )
    ).first()
    if row is None:
        return None
    grants = tuple(Grant(role, row.node_id, row.node_path) for role in row.roles)
    return Principal("api_key", row.id, grants, row.name, {"api_key_source": row.source})


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: one transaction, committed when the endpoint returns without error.
    Work that must only happen after the commit (enqueueing jobs, broker calls) is registered with
    `after_commit(session, fn)`."""
    override: Callable[[], AsyncSession] | None = getattr(request.app.state, "session_override", None)
    operation_id = getattr(request.scope.get("route"), "operation_id", None)
    session = override() if override else session_factory(engine_kind(request.method, operation_id))()
    try:
        yield session
        await session.commit()
    except BaseException as exc:
        # Some failures must still record what happened (a failed login attempt); the service says so.
        if isinstance(exc, LinliError) and session.info.pop("commit_on_error", False):
            await session.commit()
        else:
            await session.rollback()
        raise
    finally:
        if override is None:
            await session.close()
    for callback in session.info.pop("after_commit", []):
        await callback()


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    session.info.setdefault("after_commit", []).append(callback)


DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


async def current_principal(request: Request, session: DbSession) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal: Principal | None = None
    auth = request.headers.get("authorization", "")
    api_key = request.headers.get("x-api-key")
    if auth.lower().startswith("bearer "):
        claims = decode_access_token(auth[7:].strip())
        if claims is not None:
            principal = await load_user_principal(session, uuid.UUID(claims["sub"]))
            if not principal.grants:
                principal = None
    elif api_key or auth.lower().startswith("apikey "):
        principal = await _principal_from_api_key(session, api_key or auth[7:].strip())
    if principal is None:
        raise Unauthenticated("missing, invalid or expired credentials")
    await apply_scopes(session, principal.scopes)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

# Every dependency built by `require` is recorded here so a test can prove each route declares one.
PERMISSION_DEPENDENCIES: dict[Callable[..., Awaitable[Principal]], tuple[str, str]] = {}


def require(resource: str, action: str) -> Any:
    """Dependency: the caller must hold a role permitting `resource:action` somewhere; the object's own
    node is checked by the service with `access_object(...)`, and RLS limits the rows.

    For the rest of the request RLS shows only rows under the grants whose role carries this
    permission (not under every grant the caller holds): a resident of one estate who is a grid worker
    elsewhere lists users, devices and alarms of the grid only. A service that must read wider does
    so explicitly with `apply_scopes`. The nodes of the grants lacking the permission are only taken
    out of the scope the session already holds, so a mistake in this lock can never widen the other."""

    async def dependency(principal: CurrentPrincipal, session: DbSession) -> Principal:
        if not principal.can_anywhere(resource, action):
            raise Forbidden(f"your roles do not allow {resource}:{action}")
        lacking = set(principal.scopes) - set(principal.scopes_for(resource, action))
        await apply_scopes(session, [s for s in session.info.get("scopes", ()) if s not in lacking])
        return principal

    dependency.__name__ = f"require_{resource}_{action}"
    PERMISSION_DEPENDENCIES[dependency] = (resource, action)
    CHECKED_PERMISSIONS.add(Permission(resource, action))
    return Depends(dependency)


def role_allows(role: str) -> dict[str, list[str]]:
    """Every permission an endpoint requires (`require(...)`) that `role` holds: resource -> actions.
    What front ends show is derived from this, so they never hard-code what a role may do."""
    allowed: dict[str, set[str]] = {}
    for resource, action in set(PERMISSION_DEPENDENCIES.values()):
        if role_permits(role, resource, action):
            allowed.setdefault(resource, set()).add(action)
    return {resource: sorted(actions) for resource, actions in sorted(allowed.items())}
