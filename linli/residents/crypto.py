"""Identity numbers: stored encrypted (Fernet), found again by a keyed hash (HMAC-SHA256).

Both keys are derived from `LINLI_SECRET_KEY` with HKDF, each for its own purpose, so the search hash
can never be used to decrypt and neither key is the token-signing secret itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linli.platform.settings import get_settings

ENCRYPTION_INFO = b"linli/residents/id-number/encryption/v1"
SEARCH_INFO = b"linli/residents/id-number/search/v1"


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[Fernet, bytes]:
    fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, ENCRYPTION_INFO)))
    return fernet, _derive(secret, SEARCH_INFO)


def normalise_id_number(value: str) -> str:
    """Identity numbers compare without spaces and with an upper-case check character."""
    return "".join(value.split()).upper()


def encrypt_id_number(value: str) -> str:
    fernet, _ = _keys(get_settings().secret_key)
    return fernet.encrypt(normalise_id_number(value).encode()).decode()


def decrypt_id_number(token: str) -> str | None:
    """The plain number, or None if the token was written with another key (rotated secret)."""
    fernet, _ = _keys(get_settings().secret_key)
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def id_number_hash(value: str) -> str:
    _, key = _keys(get_settings().secret_key)
    return hmac.new(key, normalise_id_number(value).encode(), hashlib.sha256).hexdigest()


class IdNumberCodec:
    """The same operations with the keys resolved once (bulk seeding encrypts a million numbers)."""

    def __init__(self) -> None:
        self._fernet, self._key = _keys(get_settings().secret_key)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
