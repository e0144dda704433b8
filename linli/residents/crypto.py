"""Identity numbers: stored encrypted (Fernet), found again by a keyed hash (HMAC-SHA256).

The keys come from settings of their own, not from LINLI_SECRET_KEY (which signs access tokens): each
is derived with HKDF for its one purpose. Encryption keys carry an id (`LINLI_DATA_KEYS` =
`<id>:<secret>,...`); a ciphertext is stored as `<id>:<Fernet token>`, so after a rotation (a new key put
first) numbers written under an older key are still read with it. The search hash has its own key
(`LINLI_SEARCH_KEY`), untouched by a rotation of the encryption keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from linli.platform.security import derive_key
from linli.platform.settings import get_settings

ENCRYPTION_INFO = b"linli/residents/id-number/encryption/v1"
SEARCH_INFO = b"linli/residents/id-number/search/v1"


class Keys:
    """The encryption keys by id (the first one encrypts) and the search key."""

    def __init__(self, data_keys: str, search_key: str) -> None:
        self.fernets: dict[str, Fernet] = {}
        for entry in filter(None, (e.strip() for e in data_keys.split(","))):
            key_id, sep, secret = entry.partition(":")
            if not sep or not key_id or not secret:
                raise ValueError("LINLI_DATA_KEYS must be `<key id>:<secret>` entries, comma-separated")
            self.fernets[key_id] = Fernet(base64.urlsafe_b64encode(derive_key(secret, ENCRYPTION_INFO)))
        if not self.fernets or not search_key:
            raise ValueError("LINLI_DATA_KEYS and LINLI_SEARCH_KEY must be set to encrypt identity numbers")
        self.current_id = next(iter(self.fernets))
        self.search = derive_key(search_key, SEARCH_INFO)

    def encrypt(self, value: str) -> str:
        return f"{self.current_id}:{self.fernets[self.current_id].encrypt(value.encode()).decode()}"

    def decrypt(self, stored: str) -> str | None:
        key_id, _, token = stored.partition(":")
        fernet = self.fernets.get(key_id)
        if fernet is None:
            return None
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None

    def hash(self, value: str) -> str:
        return hmac.new(self.search, value.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _keys(data_keys: str, search_key: str) -> Keys:
    return Keys(data_keys, search_key)


def keys() -> Keys:
    settings = get_settings()
    return _keys(settings.data_keys, settings.search_key)


def normalise_id_number(value: str) -> str:
    """Identity numbers compare without spaces and with an upper-case check character."""
    return "".join(value.split()).upper()


def encrypt_id_number(value: str) -> str:
    return keys().encrypt(normalise_id_number(value))


def decrypt_id_number(stored: str) -> str | None:
    """The plain number, or None if its key is no longer configured."""
    return keys().decrypt(stored)


def id_number_hash(value: str) -> str:
    return keys().hash(normalise_id_number(value))


class IdNumberCodec:
    """The same operations with the keys resolved once (bulk seeding encrypts a million numbers)."""

    def __init__(self) -> None:
        self._keys = keys()

    def encrypt(self, value: str) -> str:
        return self._keys.encrypt(value)

    def hash(self, value: str) -> str:
        return self._keys.hash(value)
