"""Each tenant's Ed25519 pass-signing key pair, created the first time it is needed; the private key is
stored only encrypted (AES-GCM under a key derived from LINLI_SECRET_KEY, bound to the tenant)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlalchemy.ext.asyncio import AsyncSession

from linli.passes.models import PassKey
from linli.passes.repository import PassRepository
from linli.platform.db import within_scopes
from linli.platform.security import derive_key
from linli.platform.settings import get_settings

CONTEXT = b"linli/pass-signing-key/v1"
NONCE_BYTES = 12


def _sealer() -> AESGCM:
    return AESGCM(derive_key(get_settings().secret_key, CONTEXT))


def _aad(tenant_id: int) -> bytes:
    return f"pass-key:{tenant_id}".encode()


def new_key(tenant_id: int, node_path: str) -> PassKey:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    nonce = os.urandom(NONCE_BYTES)
    return PassKey(
        tenant_id=tenant_id,
        node_path=node_path,
        public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        private_key_enc=nonce + _sealer().encrypt(nonce, raw, _aad(tenant_id)),
    )


async def tenant_key(session: AsyncSession, *, tenant_id: int, tenant_path: str) -> PassKey:
    """The tenant's key row, made on first use. Read in the tenant's scope: the key is the tenant's, not
    the estate's a resident or gate stands at (callers have been authorized for a node of the tenant)."""
    repo = PassRepository(session)
    async with within_scopes(session, [tenant_path]):
        found = await repo.key(tenant_id)
        if found is None:
            await repo.add_key_once(new_key(tenant_id, tenant_path))
            found = await repo.key(tenant_id)
    assert found is not None  # inserted just now, by this request or a concurrent one
    return found


def private_key(row: PassKey) -> Ed25519PrivateKey:
    blob = row.private_key_enc
    raw = _sealer().decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(row.tenant_id))
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key(row: PassKey) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(row.public_key)
