"""Identity-number keys: apart from the token-signing secret, and rotatable without losing old data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from linli.platform.settings import get_settings
from linli.residents.crypto import decrypt_id_number, encrypt_id_number, id_number_hash

NUMBER = "51010719800101123X"


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def use(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"LINLI_{name.upper()}", value)
    get_settings.cache_clear()


def test_rotating_the_secret_key_or_the_data_key_keeps_identity_numbers_readable(
    configure: pytest.MonkeyPatch,
) -> None:
    use(configure, secret_key="jwt-secret-one-" * 3, data_keys="k1:first-data-secret", search_key="search-secret")
    stored = encrypt_id_number(NUMBER)
    digest = id_number_hash(NUMBER)
    assert stored.startswith("k1:") and NUMBER not in stored
    # A new token-signing secret changes nothing for identity numbers.
    use(configure, secret_key="jwt-secret-two-" * 3)
    assert decrypt_id_number(stored) == NUMBER and id_number_hash(NUMBER) == digest
    # A new data key put first: new numbers use it, old ones are still read, the search hash stays.
    use(configure, data_keys="k2:second-data-secret,k1:first-data-secret")
    assert encrypt_id_number(NUMBER).startswith("k2:")
    assert decrypt_id_number(stored) == NUMBER and id_number_hash(NUMBER) == digest
    # Once the old key is retired, what it wrote is unreadable (not misread).
    use(configure, data_keys="k2:second-data-secret")
    assert decrypt_id_number(stored) is None
