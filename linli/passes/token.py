"""The QR payload: `LP1.<payload>.<signature>`, both base64url without padding; the payload is compact JSON
(pass id, tenant, validity window in Unix seconds, uses). Pure functions: the gate page does the same in
the browser with the cached public key and revocation list."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "LP1"


@dataclass(frozen=True)
class PassClaims:
    pass_id: int
    tenant_id: int
    valid_from: datetime
    valid_until: datetime
    uses: int


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes | None:
    """Strict: only the one canonical spelling of the bytes (a changed padding bit is a changed token)."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if b64(data) == text else None


def sign(key: Ed25519PrivateKey, claims: PassClaims) -> str:
    payload = json.dumps(
        {
            "p": claims.pass_id,
            "t": claims.tenant_id,
            "f": int(claims.valid_from.timestamp()),
            "u": int(claims.valid_until.timestamp()),
            "n": claims.uses,
        },
        separators=(",", ":"),
    ).encode()
    return f"{PREFIX}.{b64(payload)}.{b64(key.sign(payload))}"


def read(public_key: Ed25519PublicKey, token: str) -> PassClaims | None:
    """The claims of a token this key signed, or None (malformed, or any byte changed)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    payload, signature = unb64(parts[1]), unb64(parts[2])
    if payload is None or signature is None:
        return None
    try:
        public_key.verify(signature, payload)
        body = json.loads(payload)
        return PassClaims(
            pass_id=int(body["p"]),
            tenant_id=int(body["t"]),
            valid_from=datetime.fromtimestamp(int(body["f"]), UTC),
            valid_until=datetime.fromtimestamp(int(body["u"]), UTC),
            uses=int(body["n"]),
        )
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return None


def refusal(claims: PassClaims | None, *, tenant_id: int, revoked: set[int], at: datetime) -> str | None:
    """Why a gate refuses the pass (a machine-readable reason), or None when it lets it through."""
    if claims is None:
        return "bad_signature"
    if claims.tenant_id != tenant_id:
        return "other_tenant"
    if claims.pass_id in revoked:
        return "revoked"
    if at < claims.valid_from:
        return "not_yet_valid"
    if at >= claims.valid_until:
        return "expired"
    return None
