"""Every query on tenants and identity. Tenant-owned rows (tenants, grants, API keys) are RLS-scoped."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.hierarchy.repository import tables_with_node_path
from linli.platform.security import hash_like
from linli.tenants.models import ApiKey, LoginAttempt, PhoneCode, RefreshToken, RoleGrant, Tenant, User, UserToken


class FailedLogins(NamedTuple):
    failures: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class TenantSlug:
    """What a look-up by slug tells: enough to scope a public request to the tenant."""

    id: int
    node_id: int
    node_path: str
    status: str


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: int) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def by_node(self, node_id: int) -> Tenant | None:
        return (await self.session.execute(select(Tenant).where(Tenant.node_id == node_id))).scalar_one_or_none()

    async def by_slug(self, slug: str) -> TenantSlug | None:
        """Any scope: through a reviewed SECURITY DEFINER function (offboarded tenants are not found)."""
        row = (
            await self.session.execute(
                text("select id, node_id, node_path::text, status from linli_tenant_by_slug(:s)"), {"s": slug}
            )
        ).first()
        return TenantSlug(*row) if row is not None else None

    async def list(self, *, status: str | None, after_id: int | None, limit: int) -> Sequence[Tenant]:
        stmt = select(Tenant).order_by(Tenant.id).limit(limit)
        if status:
            stmt = stmt.where(Tenant.status == status)
        if after_id is not None:
            stmt = stmt.where(Tenant.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    def add(self, tenant: Tenant) -> None:
        self.session.add(tenant)

    async def delete(self, tenant: Tenant) -> None:
        await self.session.delete(tenant)
        await self.session.flush()

    async def due_for_purge(self, at: datetime) -> Sequence[Tenant]:
        stmt = (
            select(Tenant)
            .where(Tenant.status == "offboarded", Tenant.delete_after <= at)
            .order_by(Tenant.id)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def export_rows(self, table: str, node_path: str) -> Sequence[Any]:
        rows = await self.session.execute(
            text(f'select to_jsonb(t) from "{table}" t where node_path <@ text2ltree(:p) order by node_path'),
            {"p": node_path},
        )
        return list(rows.scalars())

    async def delete_tenant_rows(self, node_path: str, *, keep: frozenset[str]) -> dict[str, int]:
        """Delete every row under `node_path` in every tenant-owned table except `keep`. Tables that
        other tables still reference are retried after those (foreign keys decide the order)."""
        pending = [t for t in await tables_with_node_path(self.session, privilege="DELETE") if t not in keep]
        counts: dict[str, int] = {}
        while pending:
            failed: list[str] = []
            for table in pending:
                try:
                    async with self.session.begin_nested():
                        result = await self.session.execute(
                            text(f'delete from "{table}" where node_path <@ text2ltree(:p)'), {"p": node_path}
                        )
                    counts[table] = counts.get(table, 0) + int(result.rowcount)  # type: ignore[attr-defined]
                except IntegrityError:
                    failed.append(table)
            if len(failed) == len(pending):
                raise RuntimeError(f"cannot purge {node_path}: rows in {', '.join(failed)} are still referenced")
            pending = failed
        return counts


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_login(self, login: str) -> User | None:
        column = User.email if "@" in login else User.phone
        return (await self.session.execute(select(User).where(column == login.strip().lower()))).scalar_one_or_none()

    async def password_matches(self, user: User | None, password: str) -> bool:
        """Whether `password` is the active account's own; the API role never reads the stored hash. Costs
        one hashing whether or not the account exists."""
        template = None
        if user is not None:
            template = (
                await self.session.execute(text("select linli_password_template(:u)"), {"u": user.id})
            ).scalar_one()
        candidate = hash_like(password, template)
        if user is None or template is None:
            return False
        matches = await self.session.execute(
            text("select linli_password_matches(:u, :c)"), {"u": user.id, "c": candidate}
        )
        return bool(matches.scalar_one())

    def add(self, obj: User | RoleGrant | RefreshToken | UserToken | LoginAttempt | ApiKey) -> None:
        self.session.add(obj)

    async def grants_of(self, user_id: uuid.UUID) -> Sequence[RoleGrant]:
        stmt = select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def grant(self, grant_id: int) -> RoleGrant | None:
        return await self.session.get(RoleGrant, grant_id)

    async def list_with_grants(
        self, *, within_path: str | None, after_id: int | None, limit: int
    ) -> Sequence[RoleGrant]:
        stmt = select(RoleGrant).order_by(RoleGrant.id).limit(limit)
        if within_path:
            stmt = stmt.where(RoleGrant.node_path.op("<@")(func.text2ltree(within_path)))
        if after_id is not None:
            stmt = stmt.where(RoleGrant.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def count_users_under(self, node_path: str) -> int:
        """People holding a role at or under the node."""
        stmt = select(func.count(func.distinct(RoleGrant.user_id))).where(
            RoleGrant.node_path.op("<@")(func.text2ltree(node_path))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def lock_active_grants(self, *, role: str, node_id: int) -> Sequence[RoleGrant]:
        """The grants of `role` at the node held by active accounts, locked until the transaction ends."""
        stmt = (
            select(RoleGrant)
            .join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.role == role, RoleGrant.node_id == node_id, User.is_active.is_(True))
            .order_by(RoleGrant.id)
            .with_for_update(of=RoleGrant)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def users_by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        if not ids:
            return {}
        rows = (await self.session.execute(select(User).where(User.id.in_(ids)))).scalars().all()
        return {u.id: u for u in rows}

    async def delete_grant(self, grant: RoleGrant) -> None:
        await self.session.delete(grant)

    async def failed_logins(
        self, *, login: str | None = None, address: str | None = None, since: datetime
    ) -> FailedLogins:
        stmt = select(func.count(), func.min(LoginAttempt.at), func.max(LoginAttempt.at)).where(
            LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since
        )
        if login is not None:
            stmt = stmt.where(LoginAttempt.login == login)
        if address is not None:
            stmt = stmt.where(LoginAttempt.address == address)
        count, first_at, last_at = (await self.session.execute(stmt)).one()
        return FailedLogins(int(count), first_at, last_at)

    async def last_successful_login(self, login: str) -> datetime | None:
        stmt = select(func.max(LoginAttempt.at)).where(LoginAttempt.login == login, LoginAttempt.succeeded.is_(True))
        result: datetime | None = (await self.session.execute(stmt)).scalar_one()
        return result

    async def delete_login_attempts(self, *, before: datetime) -> int:
        result = await self.session.execute(delete(LoginAttempt).where(LoginAttempt.at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def refresh_token(self, token_hash: str) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke_user_refresh_tokens(self, user_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.used_at.is_(None))
            .values(used_at=at)
        )

    async def revoke_refresh_family(self, family: uuid.UUID, at: datetime, *, user_id: uuid.UUID | None = None) -> None:
        stmt = update(RefreshToken).where(RefreshToken.family == family, RefreshToken.used_at.is_(None))
        if user_id is not None:
            stmt = stmt.where(RefreshToken.user_id == user_id)
        await self.session.execute(stmt.values(used_at=at))

    async def user_token(self, token_hash: str, purpose: str) -> UserToken | None:
        stmt = select(UserToken).where(UserToken.token_hash == token_hash, UserToken.purpose == purpose)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set_password_by_token(self, token_id: uuid.UUID, password_hash: str) -> bool:
        """Marks the token used and sets its account's password, atomically (a concurrent redemption
        waits and finds it used); False when the token or the account no longer qualifies."""
        result = await self.session.execute(
            text("select linli_set_password_by_token(:t, :h)"), {"t": token_id, "h": password_hash}
        )
        return bool(result.scalar_one())

    async def api_key(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def api_keys(self, *, after: uuid.UUID | None, limit: int) -> Sequence[ApiKey]:
        stmt = select(ApiKey).order_by(ApiKey.id).limit(limit)
        if after is not None:
            stmt = stmt.where(ApiKey.id > after)
        return (await self.session.execute(stmt)).scalars().all()


class PhoneCodeRepository:
    """One-time sign-in codes (a table without tenant rows: the API role holds only what sign-in uses)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, code: PhoneCode) -> None:
        self.session.add(code)

    async def sent_since(
        self, *, since: datetime, phone: str | None = None, address: str | None = None
    ) -> list[datetime]:
        """When codes went to a phone, or were asked for from an address, since `since` (oldest first)."""
        stmt = select(PhoneCode.created_at).where(PhoneCode.created_at >= since).order_by(PhoneCode.created_at)
        if phone is not None:
            stmt = stmt.where(PhoneCode.phone == phone)
        if address is not None:
            stmt = stmt.where(PhoneCode.address == address)
        return list((await self.session.execute(stmt)).scalars().all())

    async def latest(self, *, tenant_id: int, phone: str) -> PhoneCode | None:
        """The newest code sent to the phone for the tenant's app, locked (its tries are counted)."""
        stmt = (
            select(PhoneCode)
            .where(PhoneCode.tenant_id == tenant_id, PhoneCode.phone == phone)
            .order_by(PhoneCode.id.desc())
            .limit(1)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def delete_before(self, before: datetime) -> int:
        result = await self.session.execute(delete(PhoneCode).where(PhoneCode.created_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
