"""Identity: accounts, sign-in, tokens, invitations and password resets. Tenants live in `lifecycle`,
grants and API keys in `grants`. Services never commit: the request or job boundary does."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import access
from linli.platform.access import Principal, load_user_principal
from linli.platform.errors import (
    BadRequest,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
)
from linli.platform.security import (
    hash_password,
    issue_access_token,
    new_secret,
    sha256_hex,
)
from linli.platform.settings import get_settings
from linli.tenants.models import LoginAttempt, RefreshToken, User, UserToken
from linli.tenants.repository import UserRepository

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

ResetNotifier = Callable[[User, str], Awaitable[None]]
# Channels that deliver a password-reset token to its owner (the e-mail channel); filled by `linli.wiring`.
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


async def sign_in(session: AsyncSession, *, user: User) -> IssuedTokens:
    """Tokens for an account whose owner proved who they are some other way (a one-time SMS code)."""
    return await _issue_tokens(UserRepository(session), user)


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


async def user_by_phone(session: AsyncSession, *, phone: str) -> User | None:
    return await UserRepository(session).by_login(phone)
