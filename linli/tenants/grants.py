"""Who may act where: users and their role grants, invitations, API keys. Never commits."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import (
    API_KEY_PREFIX,
    OWN_RECORDS_ROLES,
    ROLES,
    Permission,
    Principal,
    access_object,
    role_permissions,
    role_permits,
)
from linli.platform.errors import BadRequest, Conflict, Forbidden, NotFound
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.service import NodeService
from linli.platform.masking import sees_full
from linli.platform.security import derive_key, new_secret, sha256_hex
from linli.platform.settings import get_settings
from linli.platform.sources import API_KEY_SOURCES, SIGNED_SOURCES
from linli.tenants.models import ApiKey, RoleGrant, User
from linli.tenants.repository import TenantRepository, UserRepository
from linli.tenants.service import ensure_user, invitation_for, normalise_login, now

# Which role administers a tenant, by the level of its node.
TENANT_ADMIN_ROLE = {"street": "street_admin", "community": "community_admin"}
# ... and the district, by the same rule: a node at these levels keeps at least one such grant.
ADMIN_ROLE = {"district": "district_admin"} | TENANT_ADMIN_ROLE


def sees_contacts(actor: Principal, node_path: str) -> bool:
    """Full e-mail and phone of the holder of a grant at `node_path` only for a full-view role over it
    (as in the residents registry); grid workers, property managers and auditors see them masked."""
    return sees_full(g.role for g in actor.grants_covering(node_path))


@dataclass(frozen=True)
class UserGrant:
    """A grant with its holder, as the caller may see it."""

    grant: RoleGrant
    user: User
    sees_contacts: bool


@dataclass(frozen=True)
class GrantPermissions:
    """One of the caller's grants with what it allows: the console's menu is made of these."""

    grant_id: int | None  # None for an API key's roles
    role: str
    node: Node
    breadcrumbs: Sequence[Node]  # the node and the ancestors the caller may see, root first
    permissions: dict[str, list[str]]
    own_records_only: bool


async def my_permissions(session: AsyncSession, *, actor: Principal) -> list[GrantPermissions]:
    ids: dict[tuple[str, int], int] = {}
    if actor.kind == "user":
        ids = {(g.role, g.node_id): g.id for g in await UserRepository(session).grants_of(actor.id)}
    nodes = NodeService(session)
    out = []
    for grant in actor.grants:
        node = await nodes.get_visible(grant.node_id)
        out.append(
            GrantPermissions(
                grant_id=ids.get((grant.role, grant.node_id)),
                role=grant.role,
                node=node,
                breadcrumbs=await nodes.ancestors(node),
                permissions=role_permissions(grant.role),
                own_records_only=grant.role in OWN_RECORDS_ROLES,
            )
        )
    return out


async def list_users(
    session: AsyncSession, *, actor: Principal, node_id: int | None, after_id: int | None, limit: int
) -> list[UserGrant]:
    within = await NodeService(session).path_filter(node_id)
    repo = UserRepository(session)
    grants = await repo.list_with_grants(within_path=within, after_id=after_id, limit=limit)
    users = await repo.users_by_ids(list({g.user_id for g in grants}))
    return [UserGrant(g, users[g.user_id], sees_contacts(actor, g.node_path)) for g in grants]


def check_grantable(actor: Principal, roles: list[str], node_path: str) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise BadRequest(f"unknown role(s) {', '.join(unknown)}; one of: {', '.join(ROLES)}", code="unknown_role")
    for role in roles:
        # Nobody hands out a role above their own at that node (no privilege escalation).
        if not actor.may_grant(role, node_path):
            raise Forbidden(f"you cannot grant {role} here", code="grant_escalation")


async def grant_role(
    session: AsyncSession,
    *,
    actor: Principal | None,
    user: User,
    role: str,
    node: Node,
    permission: Permission | tuple[str, str] = ("grants", "create"),
) -> RoleGrant:
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; one of: {', '.join(ROLES)}", code="unknown_role")
    await access_object(session, actor, node, permission=permission, what="node")
    if actor is not None:
        check_grantable(actor, [role], node.node_path)
    repo = UserRepository(session)
    existing = [g for g in await repo.grants_of(user.id) if g.role == role and g.node_id == node.id]
    if existing:
        return existing[0]
    grant = RoleGrant(user_id=user.id, role=role, node_id=node.id, node_path=node.node_path)
    repo.add(grant)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="grant.create",
        object_type="role_grant",
        object_id=grant.id,
        node_path=node.node_path,
        after={"user_id": str(user.id), "role": role, "node_id": node.id},
    )
    return grant


async def create_grant(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID, role: str, node_id: int
) -> RoleGrant:
    node = await NodeService(session).get_visible(node_id)
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise NotFound("user")
    return await grant_role(session, actor=actor, user=user, role=role, node=node)


async def refuse_last_administrator(session: AsyncSession, grant: RoleGrant) -> None:
    """The district and every tenant keep an administrator of their own level: removing the last
    such grant (the caller's own included) would lock them out of themselves. The other holders'
    grants are locked, so two administrators revoking each other at once cannot both succeed."""
    node = await NodeService(session).get_visible(grant.node_id)
    if ADMIN_ROLE.get(node.level) != grant.role:
        return
    if node.level in TENANT_ADMIN_ROLE and await TenantRepository(session).by_node(node.id) is None:
        return
    holders = await UserRepository(session).lock_active_grants(role=grant.role, node_id=node.id)
    if not any(g.id != grant.id for g in holders):
        raise Conflict(
            f"this is the last {grant.role} grant of {node.name}; grant another administrator first",
            code="last_administrator",
        )


async def revoke_grant(session: AsyncSession, *, actor: Principal, grant_id: int) -> None:
    repo = UserRepository(session)
    # Revoking (like revoking an API key) stays possible in a suspended tenant: it only reduces access.
    grant = await access_object(
        session, actor, await repo.grant(grant_id), permission=("grants", "delete"), what="grant", write=False
    )
    # Only what the actor could have granted may be revoked.
    check_grantable(actor, [grant.role], grant.node_path)
    await refuse_last_administrator(session, grant)
    await audit.record(
        session,
        actor=actor,
        action="grant.delete",
        object_type="role_grant",
        object_id=grant.id,
        node_path=grant.node_path,
        before={"user_id": str(grant.user_id), "role": grant.role},
    )
    await repo.delete_grant(grant)


async def invite_user(
    session: AsyncSession, *, actor: Principal, email: str, display_name: str, role: str, node_id: int
) -> tuple[User, RoleGrant, str | None, datetime | None]:
    email = normalise_login(email)
    invite = Permission("users", "invite")
    node = await NodeService(session).get_for(actor, node_id, invite)
    check_grantable(actor, [role], node.node_path)
    user = await ensure_user(session, email=email, display_name=display_name, home_node_path=node.node_path)
    grant = await grant_role(session, actor=actor, user=user, role=role, node=node, permission=invite)
    token, expires = await invitation_for(session, user, actor=actor)
    await audit.record(
        session,
        actor=actor,
        action="user.invite",
        object_type="user",
        object_id=user.id,
        node_path=node.node_path,
        after={"email": email, "role": role},
    )
    return user, grant, token, expires


async def list_api_keys(session: AsyncSession, *, after: uuid.UUID | None, limit: int) -> Sequence[ApiKey]:
    return await UserRepository(session).api_keys(after=after, limit=limit)


SIGNING_SECRET_INFO = b"linli/api-keys/signing-secret/v1"


def _signing_fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(get_settings().secret_key, SIGNING_SECRET_INFO)))


async def create_api_key(
    session: AsyncSession, *, actor: Principal, name: str, node_id: int, roles: list[str], source: str | None = None
) -> tuple[ApiKey, str, str | None]:
    """Returns (key, the key as the client presents it, the signing secret of a signed source); both
    secrets are shown once. The signing secret is stored encrypted: the server must read it to verify."""
    node = await NodeService(session).get_for(actor, node_id, Permission("api_keys", "create"))
    check_grantable(actor, roles, node.node_path)
    if source is not None:
        if source not in API_KEY_SOURCES:
            raise BadRequest(f"unknown event source {source!r}", code="unknown_source")
        if not any(role_permits(role, "events", "create") for role in roles):
            raise BadRequest("a key with an event source needs a role that creates events", code="source_needs_role")
    prefix, secret = new_secret(6)[:8].replace("_", "x").replace("-", "y"), new_secret()
    signing = new_secret() if source in SIGNED_SOURCES else None
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=sha256_hex(secret),
        roles=roles,
        node_id=node.id,
        node_path=node.node_path,
        created_by=actor.id if actor.kind == "user" else None,
        source=source,
        signing_secret=_signing_fernet().encrypt(signing.encode()).decode() if signing else None,
    )
    UserRepository(session).add(key)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="api_key.create",
        object_type="api_key",
        object_id=key.id,
        node_path=node.node_path,
        after={"name": name, "roles": roles, "source": source},
    )
    return key, f"{API_KEY_PREFIX}{prefix}_{secret}", signing


async def signing_secret(session: AsyncSession, *, key_id: uuid.UUID) -> str | None:
    """The signing secret of an active key in scope, or None (no such key, none issued, or written under
    another `LINLI_SECRET_KEY`)."""
    key = await UserRepository(session).api_key(key_id)
    if key is None or key.revoked_at is not None or key.signing_secret is None:
        return None
    try:
        return _signing_fernet().decrypt(key.signing_secret.encode()).decode()
    except InvalidToken:
        return None


async def revoke_api_key(session: AsyncSession, *, actor: Principal, key_id: uuid.UUID) -> ApiKey:
    key = await access_object(
        session,
        actor,
        await UserRepository(session).api_key(key_id),
        permission=("api_keys", "revoke"),
        what="api key",
        write=False,  # revoking only ever reduces access: possible in a suspended tenant too
    )
    if key.revoked_at is None:
        key.revoked_at = now()
        await audit.record(
            session,
            actor=actor,
            action="api_key.revoke",
            object_type="api_key",
            object_id=key.id,
            node_path=key.node_path,
        )
    return key
