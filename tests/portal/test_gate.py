"""门岗核验 in the console: property staff verify a resident's pass in Chromium with the network switched
off (the cached public key and revocation list decide), revoked, expired and altered passes are refused,
and the passage is recorded once back online. The server commits: the passes made here are removed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from linli.passes import keys, token
from linli.passes.models import PassKey
from tests.portal.conftest import shot, sign_in
from tests.tenants.support import CachedLogin, node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

STAFF = "staff@mumianling.demo"
RESIDENT = "13800000001"
APP = "/api/v1/app/mumianling/passes"


@pytest.fixture
async def passes(server: str) -> AsyncIterator[dict[str, Any]]:
    """A good pass (2 uses), a revoked one, and an expired payload, issued through the live server."""
    made: list[int] = []
    async with httpx.AsyncClient(base_url=server, timeout=30) as live:
        resident = await CachedLogin(live)(RESIDENT)
        start = datetime.now(UTC) - timedelta(hours=1)
        body = {
            "service": "prop_visitor_pass",
            "kind": "visitor",
            "visitor_name": "张师傅",
            "valid_from": start.isoformat(),
            "valid_until": (start + timedelta(days=1)).isoformat(),
            "uses": 2,
        }
        issued = []
        for _ in range(2):
            response = await live.post(APP, json=body, headers=resident)
            assert response.status_code == 201, response.text
            issued.append(response.json())
            made.append(response.json()["id"])
        revoked = await live.post(f"{APP}/{issued[1]['id']}/revoke", headers=resident)
        assert revoked.status_code == 200
        good = issued[0]
        with superuser() as conn:
            row = conn.execute(
                "select private_key_enc from pass_keys where tenant_id = %s", (good["tenant_id"],)
            ).fetchone()
        assert row is not None
        key = keys.private_key(PassKey(tenant_id=good["tenant_id"], private_key_enc=bytes(row[0])))
        past = datetime.now(UTC) - timedelta(days=3)
        claims = token.PassClaims(
            pass_id=good["id"],
            tenant_id=good["tenant_id"],
            valid_from=past,
            valid_until=past + timedelta(days=1),
            uses=2,
        )
        yield {"good": good, "revoked": issued[1], "expired": token.sign(key, claims)}
    with superuser() as conn:
        conn.execute("delete from pass_passages where pass_id = any(%s)", (made,))
        conn.execute("delete from passes where id = any(%s)", (made,))


async def check(page: Page, payload: str) -> None:
    await page.get_by_test_id("gate-payload").fill(payload)
    await page.get_by_test_id("gate-verify").click()


async def test_the_gate_verifies_offline_and_records_the_passage_online(page: Page, passes: dict[str, Any]) -> None:
    from playwright.async_api import expect

    community, _ = node_by_name("木棉岭社区")
    await sign_in(page, STAFF)
    await page.goto(f"/#/gate?node={community}")
    await expect(page.get_by_test_id("gate-cache")).to_contain_text("作废")

    await page.context.set_offline(True)
    await expect(page.get_by_test_id("gate-offline")).to_be_visible()
    good = passes["good"]["token"]
    await check(page, good)
    await expect(page.get_by_test_id("gate-ok")).to_contain_text(f"#{passes['good']['id']}")
    await expect(page.get_by_test_id("gate-record")).to_have_count(0)  # offline: nothing to record yet
    await shot(page, "gate-offline-ok")

    refused = page.get_by_test_id("gate-refused")
    await check(page, passes["revoked"]["token"])
    await expect(refused).to_have_attribute("data-reason", "revoked")
    await check(page, passes["expired"])
    await expect(refused).to_have_attribute("data-reason", "expired")
    middle = len(good) // 2
    await check(page, good[:middle] + chr(ord(good[middle]) ^ 1) + good[middle + 1 :])
    await expect(refused).to_have_attribute("data-reason", "bad_signature")
    await shot(page, "gate-offline-refused")

    await page.context.set_offline(False)
    await check(page, good)
    await page.get_by_test_id("gate-record").click()
    await expect(page.get_by_test_id("gate-recorded")).to_contain_text("剩余 1 次")
    with superuser() as conn:
        left = conn.execute("select uses_left from passes where id = %s", (passes["good"]["id"],)).fetchone()
        gone = conn.execute("select count(*) from pass_passages where pass_id = %s", (passes["good"]["id"],)).fetchone()
    assert left == (1,) and gone == (1,)
