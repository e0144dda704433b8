"""Identity: accounts, sign-in, tokens, invitations and password resets. Tenants live in `lifecycle`,
grants and API keys in `grants`. Services never commit: the request or job boundary does."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import Principal, load_user_principal
from linli.platform.errors import BadRequest, TooManyRequests, Unauthenticated
from linli.platform.security import (
    hash_password,
    issue_access_token,
    new_secret,
    sha256_hex,
    verify_password,
)
from linli.platform.settings import get_settings
from linli.tenants.models import LoginAttempt, RefreshToken, User, UserToken
from linli.tenants.repository import UserRepository

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_LOGIN = 5
MAX_FAILURES_PER_ADDRESS = 30
INVITATION_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)

ResetNotifier = Callable[[User, str], Awaitable[None]]
# Channels that deliver a password-reset token to its owner (the notification domain registers one).
RESET_NOTIFIERS: list[ResetNotifier] = []


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
    access, ttl = issue_access_token(user.id)
    refresh = new_secret()
    repo.add(
        RefreshToken(
            user_id=user.id,
            token_hash=sha256_hex(refresh),
            family=family or uuid.uuid4(),
            expires_at=now() + timedelta(days=get_settings().refresh_token_days),
        )
    )
    return IssuedTokens(access, ttl, refresh)


async def login(session: AsyncSession, *, login: str, password: str, address: str) -> IssuedTokens:
    repo = UserRepository(session)
    login = normalise_login(login)
    since = now() - LOGIN_WINDOW
    if (
        await repo.failed_logins_since(login=login, since=since) >= MAX_FAILURES_PER_LOGIN
        or await repo.failed_logins_since(address=address, since=since) >= MAX_FAILURES_PER_ADDRESS
    ):
        raise TooManyRequests("too many failed logins; try again in 15 minutes", code="login_rate_limited")
    user = await repo.by_login(login)
    ok = verify_password(password, user.password_hash if user else None) and user is not None and user.is_active
    repo.add(LoginAttempt(login=login, address=address, succeeded=ok))
    if not ok or user is None:
        # The attempt row must survive the failed request: the caller commits it before raising.
        session.info["commit_on_error"] = True
        raise Unauthenticated("wrong login or password", code="invalid_credentials")
    return await _issue_tokens(repo, user)


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
    row.used_at = now()
    user = await repo.get(row.user_id)
    if user is None or not user.is_active:
        raise BadRequest(f"{purpose} token is invalid, used or expired", code=f"invalid_{purpose}_token")
    if purpose == "invitation" and user.password_hash is not None:
        # An invitation never replaces the password of an existing account (that would let whoever
        # invites an existing e-mail address take the account over); the grant is already in place.
        raise BadRequest("this account already has a password; sign in instead", code="invitation_account_exists")
    user.password_hash = hash_password(password)
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
    if user.password_hash is not None:
        return None, None
    if actor is not None:
        held = await load_user_principal(session, user.id)
        if any(not actor.grants_covering(g.node_path) for g in held.grants):
            return None, None
    return await create_user_token(UserRepository(session), user, "invitation")


async def request_password_reset(session: AsyncSession, *, login: str) -> str | None:
    """Returns the token for the notification channel; the HTTP answer is the same whether or not the
    account exists."""
    repo = UserRepository(session)
    user = await repo.by_login(normalise_login(login))
    if user is None or not user.is_active:
        return None
    token, _ = await create_user_token(repo, user, "reset")
    for notify in RESET_NOTIFIERS:
        await notify(user, token)
    return token


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


async def principal_for(session: AsyncSession, user: User) -> Principal:
    return await load_user_principal(session, user.id, user.display_name)


async def accept_invitation(
    session: AsyncSession, *, token: str, password: str, display_name: str | None
) -> IssuedTokens:
    user = await use_user_token(
        session, token=token, purpose="invitation", password=password, display_name=display_name
    )
    return await _issue_tokens(UserRepository(session), user)


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    return await UserRepository(session).get(user_id)
