"""Identity, tenants and grants. Services never commit: the request or job boundary does."""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import access, audit
from linli.platform.access import API_KEY_PREFIX, ROLES, Principal, load_user_principal
from linli.platform.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
)
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.service import NodeService
from linli.platform.security import (
    hash_password,
    issue_access_token,
    new_secret,
    sha256_hex,
)
from linli.platform.settings import get_settings
from linli.residents.masking import sees_full
from linli.tenants.models import ApiKey, LoginAttempt, RefreshToken, RoleGrant, Tenant, User, UserToken
from linli.tenants.repository import TenantRepository, UserRepository

# Sign-in limits. None locks an account: one client guessing one account is stopped per (address,
# account); one address guessing many accounts by a looser per-address limit (a community office behind
# one NAT stays far below it); and an account guessed from everywhere answers ever later (the wait doubles
# with each failure past the free ones, up to a cap), its owner still signs in once the wait is over.
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ADDRESS_AND_LOGIN = 5
MAX_FAILURES_PER_ADDRESS = 100
FREE_FAILURES_PER_LOGIN = 5
FIRST_LOGIN_DELAY = timedelta(seconds=2)
MAX_LOGIN_DELAY = timedelta(minutes=5)
# An account's failures count until it signs in successfully, at most this long.
LOGIN_FAILURE_MEMORY = timedelta(days=1)
LOGIN_ATTEMPT_RETENTION = timedelta(days=30)
INVITATION_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)
# Which role administers a tenant, by the level of its node.
TENANT_ADMIN_ROLE = {"street": "street_admin", "community": "community_admin"}
# ... and the district, by the same rule: a node at these levels keeps at least one such grant.
ADMIN_ROLE = {"district": "district_admin"} | TENANT_ADMIN_ROLE

ResetNotifier = Callable[[User, str], Awaitable[None]]
# Channels that deliver a password-reset token to its owner (the notification domain registers one).
RESET_NOTIFIERS: list[ResetNotifier] = []

OnboardingHook = Callable[[AsyncSession, Tenant], Awaitable[None]]
# Other domains register the defaults they apply to a new tenant (service catalog, routing, rules).
ONBOARDING_HOOKS: list[OnboardingHook] = []


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str


def normalise_login(login: str) -> str:
    return login.strip().lower()


async def _issue_tokens(repo: UserRepository, user: User, *, family: uuid.UUID | None = None) -> IssuedTokens:
    family = family or uuid.uuid4()  # the session: every rotation of one sign-in
    access, ttl = issue_access_token(user.id, session_id=family)
    refresh = new_secret()
    repo.add(
        RefreshToken(
            user_id=user.id,
            token_hash=sha256_hex(refresh),
            family=family,
            expires_at=now() + timedelta(days=get_settings().refresh_token_days),
        )
    )
    return IssuedTokens(access, ttl, refresh)


def login_delay(failures: int) -> timedelta:
    """How long an account answers nothing after `failures` failed sign-ins in a row."""
    if failures < FREE_FAILURES_PER_LOGIN:
        return timedelta(0)
    delay: timedelta = FIRST_LOGIN_DELAY * 2 ** min(failures - FREE_FAILURES_PER_LOGIN, 20)
    return min(delay, MAX_LOGIN_DELAY)


async def _sign_in_wait(repo: UserRepository, *, login: str, address: str, at: datetime) -> timedelta | None:
    """How long this address must wait before it may try this account again, or None."""
    since = at - LOGIN_WINDOW
    until: list[datetime] = []
    pair = await repo.failed_logins(login=login, address=address, since=since)
    if pair.failures >= MAX_FAILURES_PER_ADDRESS_AND_LOGIN and pair.first_at is not None:
        until.append(pair.first_at + LOGIN_WINDOW)
    from_address = await repo.failed_logins(address=address, since=since)
    if from_address.failures >= MAX_FAILURES_PER_ADDRESS and from_address.first_at is not None:
        until.append(from_address.first_at + LOGIN_WINDOW)
    last_success = await repo.last_successful_login(login)
    memory = max(at - LOGIN_FAILURE_MEMORY, last_success or at - LOGIN_FAILURE_MEMORY)
    account = await repo.failed_logins(login=login, since=memory)
    if account.last_at is not None:
        until.append(account.last_at + login_delay(account.failures))
    wait = max(until, default=at) - at
    return wait if wait > timedelta(0) else None


async def login(session: AsyncSession, *, login: str, password: str, address: str) -> IssuedTokens:
    repo = UserRepository(session)
    login = normalise_login(login)
    wait = await _sign_in_wait(repo, login=login, address=address, at=now())
    if wait is not None:
        # Not even checked (nor recorded): guessing during the wait neither helps nor prolongs it.
        seconds = math.ceil(wait.total_seconds())
        raise TooManyRequests(
            f"too many failed sign-ins; try again in {seconds} s", code="login_rate_limited", retry_after=seconds
        )
    user = await repo.by_login(login)
    ok = await repo.password_matches(user, password) and user is not None and user.is_active
    repo.add(LoginAttempt(login=login, address=address, succeeded=ok))
    if not ok or user is None:
        # The attempt row must survive the failed request: the caller commits it before raising.
        session.info["commit_on_error"] = True
        raise Unauthenticated("wrong login or password", code="invalid_credentials")
    return await _issue_tokens(repo, user)


async def prune_login_attempts(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Sign-in attempts are kept for LOGIN_ATTEMPT_RETENTION (longer than any limit looks back)."""
    return await UserRepository(session).delete_login_attempts(before=(at or now()) - LOGIN_ATTEMPT_RETENTION)


async def logout(session: AsyncSession, *, refresh_token: str | None, access_claims: dict[str, Any] | None) -> None:
    """End a session: every refresh token of its family, named by a refresh token or by the access
    token's session id. The access token itself lapses within LINLI_ACCESS_TOKEN_MINUTES."""
    repo = UserRepository(session)
    if refresh_token is not None:
        row = await repo.refresh_token(sha256_hex(refresh_token))
        if row is None:
            raise Unauthenticated("refresh token is invalid or expired", code="invalid_refresh_token")
        await repo.revoke_refresh_family(row.family, now())
        return
    if access_claims is None or "sid" not in access_claims:
        raise Unauthenticated("give the refresh token or sign in", code="unauthenticated")
    await repo.revoke_refresh_family(uuid.UUID(access_claims["sid"]), now(), user_id=uuid.UUID(access_claims["sub"]))


async def refresh(session: AsyncSession, *, refresh_token: str) -> IssuedTokens:
    repo = UserRepository(session)
    row = await repo.refresh_token(sha256_hex(refresh_token))
    if row is None or row.expires_at < now():
        raise Unauthenticated("refresh token is invalid or expired", code="invalid_refresh_token")
    if row.used_at is not None:
        # Reuse of a rotated token: someone holds a copy. Revoke the whole family.
        await repo.revoke_refresh_family(row.family, now())
        session.info["commit_on_error"] = True
        raise Unauthenticated("refresh token was already used; sign in again", code="refresh_token_reused")
    row.used_at = now()
    user = await repo.get(row.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("account is disabled", code="account_disabled")
    return await _issue_tokens(repo, user, family=row.family)


async def create_user_token(repo: UserRepository, user: User, purpose: str) -> tuple[str, datetime]:
    token = new_secret()
    expires = now() + (INVITATION_TTL if purpose == "invitation" else RESET_TTL)
    repo.add(UserToken(purpose=purpose, token_hash=sha256_hex(token), user_id=user.id, expires_at=expires))
    return token, expires


async def use_user_token(
    session: AsyncSession, *, token: str, purpose: str, password: str, display_name: str | None = None
) -> User:
    repo = UserRepository(session)
    row = await repo.user_token(sha256_hex(token), purpose)
    if row is None or row.used_at is not None or row.expires_at < now():
        raise BadRequest(f"{purpose} token is invalid, used or expired", code=f"invalid_{purpose}_token")
    user = await repo.get(row.user_id)
    if user is None or not user.is_active:
        raise BadRequest(f"{purpose} token is invalid, used or expired", code=f"invalid_{purpose}_token")
    if purpose == "invitation" and user.has_password:
        # An invitation never replaces the password of an existing account (that would let whoever
        # invites an existing e-mail address take the account over); the grant is already in place.
        raise BadRequest("this account already has a password; sign in instead", code="invitation_account_exists")
    if not await repo.set_password_by_token(row.id, hash_password(password)):
        raise BadRequest(f"{purpose} token is invalid, used or expired", code=f"invalid_{purpose}_token")
    if display_name:
        user.display_name = display_name
    # New credentials end every session that was signed in with the old ones.
    await repo.revoke_user_refresh_tokens(user.id, now())
    return user


async def invitation_for(
    session: AsyncSession, user: User, *, actor: Principal | None
) -> tuple[str | None, datetime | None]:
    """An invitation token for an account that has no password yet; an existing account signs in with
    its own password (and simply gains the new grant). The token sets the password, so it goes to the
    inviter only if the inviter's grants cover every grant the account holds: a pending account another
    tenant invited first would otherwise be handed over with that tenant's access. Such an account
    accepts its first invitation or resets its password; the new grant waits for it."""
    if user.has_password:
        return None, None
    if actor is not None:
        held = await load_user_principal(session, user.id)
        if any(not actor.grants_covering(g.node_path) for g in held.grants):
            return None, None
    return await create_user_token(UserRepository(session), user, "invitation")


async def request_password_reset(session: AsyncSession, *, login: str) -> None:
    """Hand the request to the worker, which makes the token and sends it: the HTTP answer is the same
    (and as fast) whether or not the account exists, and the token never passes through the API."""
    from linli.platform import jobs  # imported here: the jobs registry imports this module

    async def _send() -> None:
        try:
            await jobs.enqueue_now("tenants_send_password_reset", normalise_login(login))
        except Exception as exc:  # Redis away: say so, the same for every login
            raise ServiceUnavailable(
                "password reset is unavailable; try again later", code="reset_unavailable"
            ) from exc

    access.after_commit(session, _send)


async def send_password_reset(session: AsyncSession, *, login: str) -> bool:
    """Make a reset token and give it to the channels in RESET_NOTIFIERS (the e-mail channel); False when
    there is no such active account."""
    repo = UserRepository(session)
    user = await repo.by_login(normalise_login(login))
    if user is None or not user.is_active:
        return False
    token, _ = await create_user_token(repo, user, "reset")
    for notify in RESET_NOTIFIERS:
        await notify(user, token)
    return True


async def ensure_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    phone: str | None = None,
    display_name: str,
    password: str | None = None,
    home_node_path: str | None = None,
) -> User:
    repo = UserRepository(session)
    login = normalise_login(email or phone or "")
    user = await repo.by_login(login)
    if user is None:
        user = User(
            email=normalise_login(email) if email else None,
            phone=phone,
            display_name=display_name,
            password_hash=hash_password(password) if password else None,
            home_node_path=home_node_path,
        )
        repo.add(user)
        await session.flush()
    return user


def sees_contacts(actor: Principal, node_path: str) -> bool:
    """Full e-mail and phone of the holder of a grant at `node_path` only for a full-view role over it
    (as in the residents registry); grid workers, property managers and auditors see them masked."""
    return sees_full(g.role for g in actor.grants_covering(node_path))


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
    permission: tuple[str, str] = ("grants", "create"),
) -> RoleGrant:
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; one of: {', '.join(ROLES)}", code="unknown_role")
    if actor is not None:
        actor.authorize(*permission, node.node_path, what="node")
        check_grantable(actor, [role], node.node_path)
    await access.assert_writable(session, node.node_path)
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
    grant = await repo.grant(grant_id)
    if grant is None:
        raise NotFound("grant")
    actor.authorize("grants", "delete", grant.node_path, what="grant")
    # Only what the actor could have granted may be revoked. Revoking (like revoking an API key) stays
    # possible in a suspended tenant: it only ever reduces access.
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
    node = await NodeService(session).get_visible(node_id)
    actor.authorize("users", "invite", node.node_path, what="node")
    check_grantable(actor, [role], node.node_path)
    await access.assert_writable(session, node.node_path)
    user = await ensure_user(session, email=email, display_name=display_name, home_node_path=node.node_path)
    grant = await grant_role(session, actor=actor, user=user, role=role, node=node, permission=("users", "invite"))
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
    async with audit.bundled(session) as steps:
        if node_id is not None:
            if community_name is not None or parent_street_id is not None:
                raise BadRequest(
                    "give node_id, or community_name with parent_street_id, not both", code="node_ambiguous"
                )
            node = await nodes.get_visible(node_id)
            if actor is not None:
                actor.authorize("tenants", "onboard", node.node_path, what="node")
        elif community_name and parent_street_id is not None:
            street = await nodes.get_visible(parent_street_id)
            if actor is not None:
                actor.authorize("tenants", "onboard", street.node_path, what="node")
            if street.level != "street":
                raise BadRequest("parent_street_id must name a street", code="not_a_street")
            node = await nodes.create(actor=actor, parent=street, name=community_name)
        else:
            raise BadRequest("give node_id, or community_name with parent_street_id", code="node_required")
        if node.level not in TENANT_ADMIN_ROLE:
            raise BadRequest("only a street or a community can be a tenant", code="not_a_tenant_level")
        if node.archived_at is not None:
            raise BadRequest(f"{node.name} is archived", code="node_archived")
        await access.assert_writable(session, node.node_path)
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
            # Slugs are unique across every district: a clash outside the caller's scope is hidden
            # from the look-up above by RLS, but not from the unique index.
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


async def get_tenant(session: AsyncSession, *, tenant_id: int) -> Tenant:
    tenant = await TenantRepository(session).get(tenant_id)
    if tenant is None:
        raise NotFound("tenant")
    return tenant


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
    actor.authorize("tenants", "offboard", tenant.node_path, what="tenant")
    above = [g for g in actor.grants_above(tenant.node_path) if access.role_permits(g.role, "tenants", "offboard")]
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
    tenant = await get_tenant(session, tenant_id=tenant_id)
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
        actor.authorize("tenants", "update", tenant.node_path, what="tenant")
        await access.assert_writable(session, tenant.node_path)
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
    tenant = await get_tenant(session, tenant_id=tenant_id)
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


async def assert_writable(session: AsyncSession, node_path: str) -> None:
    """Suspended and offboarded tenants are read-only (see `access.assert_writable`)."""
    await access.assert_writable(session, node_path)


# Event sources an API key may be created for; `iot_alarm`, `ai_video` and `robot` are system sources
# that nobody else may claim (`events.intake.check_source`).
API_KEY_SOURCES = ("iot_alarm", "ai_video", "robot", "hotline", "upstream")
# Sources whose requests are signed with a per-key signing secret (not the key's own secret).
SIGNED_SOURCES = ("ai_video",)
SIGNING_SECRET_INFO = b"linli/api-keys/signing-secret/v1"


def _signing_fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SIGNING_SECRET_INFO).derive(
        get_settings().secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


async def create_api_key(
    session: AsyncSession, *, actor: Principal, name: str, node_id: int, roles: list[str], source: str | None = None
) -> tuple[ApiKey, str, str | None]:
    """Returns (key, the key as the client presents it, the signing secret of a signed source); both
    secrets are shown once. The signing secret is stored encrypted: the server must read it to verify."""
    node = await NodeService(session).get_visible(node_id)
    actor.authorize("api_keys", "create", node.node_path, what="node")
    check_grantable(actor, roles, node.node_path)
    if source is not None:
        if source not in API_KEY_SOURCES:
            raise BadRequest(f"unknown event source {source!r}", code="unknown_source")
        if not any(access.role_permits(role, "events", "create") for role in roles):
            raise BadRequest("a key with an event source needs a role that creates events", code="source_needs_role")
    await access.assert_writable(session, node.node_path)
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
    key = await UserRepository(session).api_key(key_id)
    if key is None:
        raise NotFound("api key")
    actor.authorize("api_keys", "revoke", key.node_path, what="api key")
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


async def principal_for(session: AsyncSession, user: User) -> Principal:
    return await load_user_principal(session, user.id, user.display_name)
