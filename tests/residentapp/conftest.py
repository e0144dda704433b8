from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# Tests run deadlines directly; no deferred jobs go to the shared Redis.
os.environ["LINLI_EVENTS_ENQUEUE_JOBS"] = "0"

from linli.events.config import get_events_settings
from linli.events.storage import LocalStorage, set_storage
from linli.platform.settings import get_settings
from linli.platform.sms import read_outbox

RESIDENT = "13800000001"  # 李悦, 悦峰尚府 in 木棉岭社区
NANHONG_RESIDENT = "13800000023"  # 周明, 林荫街9号院 in 南虹村社区


@pytest.fixture(autouse=True)
def _storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    get_events_settings.cache_clear()
    set_storage(LocalStorage(tmp_path_factory.mktemp("storage")))
    yield
    set_storage(None)
    get_events_settings.cache_clear()


def last_code(phone: str) -> str:
    """The code of the newest SMS to `phone` in the development outbox."""
    text = read_outbox(Path(get_settings().sms_outbox), phone=phone, limit=1)[-1]["text"]
    return text.split("验证码 ", 1)[1][:6]


async def sign_in_by_code(client: httpx.AsyncClient, slug: str, phone: str) -> dict[str, object]:
    sent = await client.post(f"/api/v1/app/{slug}/auth/code", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    code = last_code(phone)
    assert code not in sent.text
    verified = await client.post(f"/api/v1/app/{slug}/auth/verify", json={"phone": phone, "code": code})
    assert verified.status_code == 200, verified.text
    assert code not in verified.text
    body: dict[str, object] = verified.json()
    return body


async def resident_headers(client: httpx.AsyncClient, slug: str, phone: str) -> dict[str, str]:
    body = await sign_in_by_code(client, slug, phone)
    assert body["status"] == "signed_in", body
    tokens = body["tokens"]
    assert isinstance(tokens, dict)
    return {"Authorization": f"Bearer {tokens['access_token']}"}
