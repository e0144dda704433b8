"""Passwords (argon2id), signed access tokens, random secrets stored only as hashes, and keys derived
from a configured secret for one purpose each (HKDF with a context of their own)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher, extract_parameters
from argon2.low_level import hash_secret
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linli.platform.settings import get_settings

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("linli-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_like(password: str, template: str | None) -> str:
    """`password` hashed with the algorithm, cost and salt of `template` (a stored hash whose digest the
    database masked): equal to the stored hash exactly when the password is right. Without a template
    (no such account) the dummy hash's parameters cost the same time."""
    try:
        params = extract_parameters(template or "")
        salt = (template or "").split("$")[-2]
        salt_bytes = base64.b64decode(salt + "=" * (-len(salt) % 4))
    except ValueError:  # no account, or a stored value that is no argon2 hash: same cost, never equal
        params, salt_bytes = extract_parameters(_DUMMY_HASH), b"linli-no-such-account"
    return hash_secret(
        password.encode(),
        salt_bytes,
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        type=params.type,
        version=params.version,
    ).decode()


def derive_key(secret: str, context: bytes) -> bytes:
    """A 32-byte key for one purpose: keys of different contexts tell nothing about each other."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context).derive(secret.encode())


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def issue_access_token(user_id: uuid.UUID, *, session_id: uuid.UUID, now: datetime | None = None) -> tuple[str, int]:
    """`sid` names the sign-in (the refresh-token family) that logging out ends."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    ttl = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.secret_key, algorithm="HS256"), int(ttl.total_seconds())


def decode_access_token(token: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, get_settings().secret_key, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None


def hmac_sha256_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def issue_purpose_token(purpose: str, subject: str, claims: dict[str, Any], ttl: timedelta) -> str:
    """A short-lived signed token for one purpose (e.g. `join`: a phone proven by a code may ask to join);
    never valid as an access token, nor for another purpose."""
    now = datetime.now(UTC)
    body = claims | {"sub": subject, "typ": purpose, "iat": now, "exp": now + ttl}
    return jwt.encode(body, get_settings().secret_key, algorithm="HS256")


def decode_purpose_token(token: str, purpose: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, get_settings().secret_key, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == purpose and purpose != "access" else None
