"""Signing in to a tenant's app by phone and one-time code, and asking to join."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from linli.cli import app as cli
from linli.platform.sms import read_outbox
from linli.tenants import phone_codes
from tests.conftest import Login
from tests.residentapp.conftest import NANHONG_RESIDENT, RESIDENT, last_code, resident_headers, sign_in_by_code
from tests.tenants.support import system_scope

UNKNOWN = "13900001234"


async def test_the_demo_resident_signs_in_by_code_and_keeps_the_password(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    headers = await resident_headers(client, "mumianling", RESIDENT)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["phone"] == RESIDENT and [g["role"] for g in me["grants"]] == ["resident"]
    assert (await client.get("/api/v1/me", headers=await login(RESIDENT))).status_code == 200
    # The code is stored only as a keyed hash, used once.
    async with system_scope(db):
        stored = (
            await db.execute(text("select code_hash, used_at from phone_codes where phone = :p"), {"p": RESIDENT})
        ).all()
    code = last_code(RESIDENT)
    assert len(stored) == 1 and stored[0].used_at is not None and code not in stored[0].code_hash
    again = await client.post("/api/v1/app/mumianling/auth/verify", json={"phone": RESIDENT, "code": code})
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_code"


async def test_a_code_has_five_tries_and_five_minutes(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.post("/api/v1/app/mumianling/auth/code", json={"phone": RESIDENT})).status_code == 202
    code = last_code(RESIDENT)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        bad = await client.post("/api/v1/app/mumianling/auth/verify", json={"phone": RESIDENT, "code": wrong})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_code"
    spent = await client.post("/api/v1/app/mumianling/auth/verify", json={"phone": RESIDENT, "code": code})
    assert spent.json()["error"]["code"] == "code_attempts_exceeded"

    later = phone_codes.now() + timedelta(minutes=2)
    monkeypatch.setattr(phone_codes, "now", lambda: later)
    assert (await client.post("/api/v1/app/mumianling/auth/code", json={"phone": RESIDENT})).status_code == 202
    code = last_code(RESIDENT)
    monkeypatch.setattr(phone_codes, "now", lambda: later + timedelta(minutes=5, seconds=1))
    expired = await client.post("/api/v1/app/mumianling/auth/verify", json={"phone": RESIDENT, "code": code})
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_code"
    # A code is for one tenant's app.
    monkeypatch.setattr(phone_codes, "now", lambda: later)
    other = await client.post("/api/v1/app/nanhong/auth/verify", json={"phone": RESIDENT, "code": code})
    assert other.status_code == 401


async def test_codes_are_limited_per_phone_and_per_address(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/v1/app/mumianling/auth/code", json={"phone": RESIDENT})
    assert first.status_code == 202 and first.json() == {"phone": "138****0001", "expires_in": 300, "resend_after": 60}
    again = await client.post("/api/v1/app/mumianling/auth/code", json={"phone": RESIDENT})
    assert again.status_code == 429 and again.json()["error"]["code"] == "code_recently_sent"
    assert 0 < int(again.headers["retry-after"]) <= 60
    for n in range(19):  # 20 codes an hour from one address
        sent = await client.post("/api/v1/app/mumianling/auth/code", json={"phone": f"139000020{n:02d}"})
        assert sent.status_code == 202, (n, sent.text)
    refused = await client.post("/api/v1/app/mumianling/auth/code", json={"phone": "13900003000"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "code_rate_limited"
    assert (await client.post("/api/v1/app/no-such-tenant/auth/code", json={"phone": RESIDENT})).status_code == 404


async def test_a_phone_the_registry_knows_gets_an_account_linked_to_its_household(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 王芳 lives with the demo resident at 悦峰尚府 but has no account yet.
    headers = await resident_headers(client, "mumianling", "13800000002")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["display_name"] == "王芳" and [g["role"] for g in me["grants"]] == ["resident"]
    home = (await client.get("/api/v1/app/mumianling/home", headers=headers)).json()
    assert [h["estate_name"] for h in home["me"]["households"]] == ["悦峰尚府"]
    # The same phone is unknown in another tenant: there it may only ask to join (a minute later: the
    # limits per phone hold across tenants).
    a_minute_later(monkeypatch)
    assert (await sign_in_by_code(client, "nanhong", "13800000002"))["status"] == "join_required"


async def test_staff_accounts_do_not_sign_in_by_code(client: httpx.AsyncClient, db: AsyncSession) -> None:
    from linli.platform.hierarchy.repository import NodeRepository
    from linli.tenants import grants
    from linli.tenants import service as identity

    async with system_scope(db):
        user = await identity.ensure_user(db, phone="13900005555", display_name="网格员")
        node = await NodeRepository(db).find_by_name("木棉岭社区")
        assert node is not None
        await grants.grant_role(db, actor=None, user=user, role="community_staff", node=node)
    await client.post("/api/v1/app/mumianling/auth/code", json={"phone": "13900005555"})
    response = await client.post(
        "/api/v1/app/mumianling/auth/verify", json={"phone": "13900005555", "code": last_code("13900005555")}
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "password_required"


def a_minute_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next code for the same phone may be asked for (one a minute)."""
    later = phone_codes.now() + timedelta(seconds=61)
    monkeypatch.setattr(phone_codes, "now", lambda: later)


async def test_an_unknown_phone_asks_to_join_and_staff_approve(
    client: httpx.AsyncClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = await sign_in_by_code(client, "mumianling", UNKNOWN)
    assert answer["status"] == "join_required" and answer["tokens"] is None and answer["join_request"] is None
    join = {"X-Join-Token": str(answer["join_token"])}
    places = (await client.get("/api/v1/app/mumianling/join/places", headers=join)).json()["items"]
    estate = next(e for e in places if e["name"] == "悦峰尚府")
    building = estate["buildings"][0]
    unit = building["units"][0]
    assert {"id", "name", "units"} <= set(building)
    body = {"name": "赵新", "estate_id": estate["id"], "location_id": unit["id"], "room": "1803"}
    asked = await client.post("/api/v1/app/mumianling/join", json=body, headers=join)
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    twice = await client.post("/api/v1/app/mumianling/join", json=body, headers=join)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "join_request_pending"
    # A join token is for its tenant only, and nothing without one.
    assert (await client.get("/api/v1/app/nanhong/join/places", headers=join)).status_code == 401
    assert (await client.get("/api/v1/app/mumianling/join/places")).status_code == 422

    staff = await login("staff@mumianling.demo")
    listed = (await client.get("/api/v1/join-requests", params={"status": "pending"}, headers=staff)).json()["items"]
    mine = next(r for r in listed if r["phone"] == UNKNOWN)
    assert mine["name"] == "赵新" and mine["masked"] is False
    assert (
        await client.get(f"/api/v1/join-requests/{mine['id']}", headers=await login("staff@nanhong.demo"))
    ).status_code == 404
    grid = (await client.get(f"/api/v1/join-requests/{mine['id']}", headers=await login("grid@mumianling.demo"))).json()
    assert grid["phone"] == "139****1234" and grid["masked"] is True
    approved = await client.post(f"/api/v1/join-requests/{mine['id']}/approve", json={}, headers=staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["person_id"] is not None
    person = (await client.get(f"/api/v1/residents/{approved.json()['person_id']}", headers=staff)).json()
    assert person["phone"] == UNKNOWN and person["room"] == "1803" and person["location_id"] == unit["id"]
    decided = await client.post(f"/api/v1/join-requests/{mine['id']}/reject", json={"reason": "x"}, headers=staff)
    assert decided.status_code == 409

    a_minute_later(monkeypatch)
    headers = await resident_headers(client, "mumianling", UNKNOWN)
    home = (await client.get("/api/v1/app/mumianling/home", headers=headers)).json()
    assert home["me"]["households"][0]["room"] == "1803"


async def test_staff_reject_a_request_with_a_reason(
    client: httpx.AsyncClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = await sign_in_by_code(client, "nanhong", UNKNOWN)
    join = {"X-Join-Token": str(answer["join_token"])}
    estate = (await client.get("/api/v1/app/nanhong/join/places", headers=join)).json()["items"][0]
    asked = await client.post(
        "/api/v1/app/nanhong/join", json={"name": "钱多", "estate_id": estate["id"]}, headers=join
    )
    assert asked.status_code == 201
    staff = await login("staff@nanhong.demo")
    rejected = await client.post(
        f"/api/v1/join-requests/{asked.json()['id']}/reject", json={"reason": "查无此人"}, headers=staff
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    # The applicant hears of it by SMS, and sees it when signing in again.
    assert "查无此人" in read_outbox(phone=UNKNOWN, limit=1)[0]["text"]
    a_minute_later(monkeypatch)
    again = await sign_in_by_code(client, "nanhong", UNKNOWN)
    assert again["join_request"]["status"] == "rejected" and again["join_request"]["reason"] == "查无此人"  # type: ignore[index]
    audit = await client.get(
        "/api/v1/audit", params={"object_type": "join_request"}, headers=await login("admin@wuhou.demo")
    )
    assert {"join_request.create", "join_request.reject"} <= {e["action"] for e in audit.json()["items"]}


def test_linli_dev_sms_outbox_prints_the_codes(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from linli.platform.settings import get_settings
    from linli.platform.sms import OutboxSmsGateway

    outbox = f"{tmp_path}/outbox.jsonl"
    monkeypatch.setenv("LINLI_SMS_OUTBOX", outbox)
    get_settings.cache_clear()
    try:
        from pathlib import Path

        gateway = OutboxSmsGateway(Path(outbox))
        asyncio.run(gateway.send(phone=NANHONG_RESIDENT, text=phone_codes.sms_text("654321", "南虹村社区邻里")))
        asyncio.run(gateway.send(phone=RESIDENT, text="another"))
        result = CliRunner().invoke(cli, ["dev", "sms-outbox", "--phone", NANHONG_RESIDENT])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "654321" in result.output and NANHONG_RESIDENT in result.output and "another" not in result.output
