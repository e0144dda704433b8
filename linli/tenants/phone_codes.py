"""One-time sign-in codes by SMS, per tenant app: six digits, stored only as an HMAC, valid 5 minutes,
5 tries; a phone gets a code at most once a minute and 5 an hour, an address asks for at most 20 an
hour (across every tenant). The code travels only in the SMS, never in an answer. Never commits."""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.errors import ServiceUnavailable, TooManyRequests, Unauthenticated
from linli.platform.security import derive_key
from linli.platform.settings import get_settings
from linli.platform.sms import SmsDeliveryError, SmsGateway, sms_gateway
from linli.tenants.models import PhoneCode
from linli.tenants.repository import PhoneCodeRepository
from linli.tenants.service import now

CODE_TTL = timedelta(minutes=5)
MAX_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
RATE_WINDOW = timedelta(hours=1)
MAX_PER_PHONE = 5
MAX_PER_ADDRESS = 20
# Codes are kept a day (the rate limits look back an hour), then pruned with old sign-in attempts.
RETENTION = timedelta(days=1)
CODE_KEY_CONTEXT = b"linli/phone-codes/v1"


def code_hash(*, tenant_id: int, phone: str, code: str) -> str:
    """Keyed: a copy of the table alone does not give the codes away (a million candidates would)."""
    key = derive_key(get_settings().secret_key, CODE_KEY_CONTEXT)
    return hmac.new(key, f"{tenant_id}|{phone}|{code}".encode(), "sha256").hexdigest()


def _wait(until: datetime, at: datetime) -> int:
    return max(1, math.ceil((until - at).total_seconds()))


async def _check_limits(repo: PhoneCodeRepository, *, phone: str, address: str, at: datetime) -> None:
    to_phone = await repo.sent_since(since=at - RATE_WINDOW, phone=phone)
    if to_phone and to_phone[-1] + RESEND_AFTER > at:
        seconds = _wait(to_phone[-1] + RESEND_AFTER, at)
        raise TooManyRequests(
            f"a code was just sent; ask again in {seconds} s", code="code_recently_sent", retry_after=seconds
        )
    if len(to_phone) >= MAX_PER_PHONE:
        seconds = _wait(to_phone[-MAX_PER_PHONE] + RATE_WINDOW, at)
        raise TooManyRequests(
            f"too many codes for this phone; try again in {seconds} s", code="code_rate_limited", retry_after=seconds
        )
    from_address = await repo.sent_since(since=at - RATE_WINDOW, address=address)
    if len(from_address) >= MAX_PER_ADDRESS:
        seconds = _wait(from_address[-MAX_PER_ADDRESS] + RATE_WINDOW, at)
        raise TooManyRequests(
            f"too many codes asked for from here; try again in {seconds} s",
            code="code_rate_limited",
            retry_after=seconds,
        )


def sms_text(code: str, app_name: str) -> str:
    minutes = int(CODE_TTL.total_seconds() // 60)
    return (
        f"【{app_name}】验证码 {code}，{minutes} 分钟内有效，请勿告诉他人。"
        f" Your sign-in code is {code}, valid for {minutes} minutes."
    )


async def send_code(
    session: AsyncSession,
    *,
    tenant_id: int,
    app_name: str,
    phone: str,
    address: str,
    gateway: SmsGateway | None = None,
    at: datetime | None = None,
) -> datetime:
    """Make a code, store its hash and send it; returns when it expires. Sent before the commit: if the
    gateway refuses, nothing is stored and the caller hears 503."""
    at = at or now()
    repo = PhoneCodeRepository(session)
    await _check_limits(repo, phone=phone, address=address, at=at)
    code = f"{secrets.randbelow(10**6):06d}"
    expires_at = at + CODE_TTL
    repo.add(
        PhoneCode(
            tenant_id=tenant_id,
            phone=phone,
            code_hash=code_hash(tenant_id=tenant_id, phone=phone, code=code),
            address=address[:64],
            expires_at=expires_at,
            attempts=0,
            created_at=at,
        )
    )
    await session.flush()
    try:
        await (gateway or sms_gateway()).send(phone=phone, text=sms_text(code, app_name))
    except SmsDeliveryError as exc:
        raise ServiceUnavailable("the code could not be sent; try again later", code="sms_unavailable") from exc
    return expires_at


async def check_code(
    session: AsyncSession, *, tenant_id: int, phone: str, code: str, at: datetime | None = None
) -> None:
    """The newest code sent to the phone for this app, unused, unexpired, with tries left, must match;
    it is used up by a match. A wrong try is counted (and kept although the request fails)."""
    at = at or now()
    row = await PhoneCodeRepository(session).latest(tenant_id=tenant_id, phone=phone)
    if row is None or row.used_at is not None or row.expires_at <= at:
        raise Unauthenticated("the code is wrong or has expired; ask for a new one", code="invalid_code")
    if row.attempts >= MAX_TRIES:
        raise Unauthenticated("too many wrong codes; ask for a new one", code="code_attempts_exceeded")
    if not hmac.compare_digest(row.code_hash, code_hash(tenant_id=tenant_id, phone=phone, code=code)):
        row.attempts += 1
        session.info["commit_on_error"] = True
        raise Unauthenticated("the code is wrong or has expired; ask for a new one", code="invalid_code")
    row.used_at = at


async def prune(session: AsyncSession, *, at: datetime | None = None) -> int:
    return await PhoneCodeRepository(session).delete_before((at or now()) - RETENTION)
