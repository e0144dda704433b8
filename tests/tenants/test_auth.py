"""Identity: sign-in and its rate limits, rotating refresh tokens, password resets, API keys, /me."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.demo import DEMO_PASSWORD
from linli.tenants import service
from linli.tenants.models import User
from tests.tenants.support import LUOHU, WUHOU, CachedLogin, all_items, node_by_name, node_id, superuser, within

TOKEN_URL = "/api/v1/auth/token"


async def sign_in(client: httpx.AsyncClient, login: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"username": login, "password": password})


def bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_sign_in_returns_a_short_access_token_and_a_refresh_token(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "Staff@Mumianling.demo ")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 3600
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]
    resident = await sign_in(client, "13800000001")
    assert resident.status_code == 200
    unknown = await sign_in(client, "nobody@example.org")
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_credentials"
    assert unknown.headers["www-authenticate"] == "Bearer"


async def test_failed_sign_ins_are_rate_limited_per_account(client: httpx.AsyncClient, db: AsyncSession) -> None:
    # Other tests (the portal's, against a live server) commit failed sign-ins of demo accounts too.
    await db.execute(text("delete from login_attempts where login = 'staff@mumianling.demo'"))
    for _ in range(5):
        response = await sign_in(client, "staff@mumianling.demo", "wrong-password")
        assert response.status_code == 401
    limited = await sign_in(client, "staff@mumianling.demo")  # even the right password now
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "login_rate_limited"
    assert (await sign_in(client, "grid@mumianling.demo")).status_code == 200  # other accounts are fine


@pytest.fixture
async def client_at(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as http:
        yield http


async def test_failed_sign_ins_are_rate_limited_per_address(
    client_at: httpx.AsyncClient, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    first = await sign_in(client_at, "guess0@example.org", "x")
    assert first.status_code == 401
    recorded = await db.execute(
        text("select login, succeeded from login_attempts where address = '203.0.113.7' order by id")
    )
    assert recorded.all() == [("guess0@example.org", False)]
    # 29 more guesses at different accounts from the same address (recorded as the request above was).
    await db.execute(
        text(
            "insert into login_attempts (login, address, succeeded) "
            "select 'guess' || g || '@example.org', '203.0.113.7', false from generate_series(1, 29) g"
        )
    )
    limited = await sign_in(client_at, "admin@wuhou.demo")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "login_rate_limited"
    assert (await sign_in(client, "admin@wuhou.demo")).status_code == 200  # from elsewhere


async def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(client: httpx.AsyncClient) -> None:
    signed_in = await sign_in(client, "staff@nanhong.demo")
    first = signed_in.json()["refresh_token"]
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (await client.get("/api/v1/me", headers=bearer(rotated))).status_code == 200
    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "refresh_token_reused"
    # The thief's copy is dead, and so is the legitimate newest token of that family.
    revoked = await client.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert revoked.status_code == 401
    garbage = await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert garbage.status_code == 401 and garbage.json()["error"]["code"] == "invalid_refresh_token"
    # Another session of the same account is not affected.
    assert (await sign_in(client, "staff@nanhong.demo")).status_code == 200


async def test_password_reset_is_single_use_and_expires(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str]] = []

    async def capture(user: User, token: str) -> None:
        sent.append((user.email or user.phone or "", token))

    monkeypatch.setattr(service, "RESET_NOTIFIERS", [capture])
    before = await sign_in(client, "grid@mumianling.demo")
    known = await client.post("/api/v1/auth/password-reset", json={"login": "grid@mumianling.demo"})
    unknown = await client.post("/api/v1/auth/password-reset", json={"login": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()  # no account enumeration
    assert [login for login, _ in sent] == ["grid@mumianling.demo"]
    token = sent[0][1]
    confirm = {"token": token, "password": "a-brand-new-password"}
    assert (await client.post("/api/v1/auth/password-reset/confirm", json=confirm)).status_code == 200
    again = await client.post("/api/v1/auth/password-reset/confirm", json=confirm | {"password": "yet-another-pw"})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_reset_token"
    assert (await sign_in(client, "grid@mumianling.demo", "a-brand-new-password")).status_code == 200
    assert (await sign_in(client, "grid@mumianling.demo")).status_code == 401
    # Sessions from before the reset are over.
    stale = await client.post("/api/v1/auth/refresh", json={"refresh_token": before.json()["refresh_token"]})
    assert stale.status_code == 401
    # An expired token is refused.
    await client.post("/api/v1/auth/password-reset", json={"login": "grid@mumianling.demo"})
    later = service.now() + service.RESET_TTL + timedelta(seconds=1)
    monkeypatch.setattr(service, "now", lambda: later)
    expired = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": sent[-1][1], "password": "too-late-password"}
    )
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalid_reset_token"


async def test_api_keys_are_shown_once_scoped_and_revocable(client: httpx.AsyncClient, login: CachedLogin) -> None:
    admin = await login("admin@wuhou.demo")
    street, street_path = node_by_name("玉林街道")
    created = await client.post(
        "/api/v1/api-keys", json={"name": "AI 视频平台", "node_id": street, "roles": ["integration"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("lk_") and created.json()["node_path"] == street_path
    listed = await all_items(client, "/api/v1/api-keys", admin)
    mine = [k for k in listed if k["id"] == created.json()["id"]]
    assert len(mine) == 1 and "key" not in mine[0] and key.split("_", 2)[2] not in str(listed)
    for headers in ({"X-API-Key": key}, {"Authorization": f"ApiKey {key}"}):
        nodes = await all_items(client, "/api/v1/nodes", headers)
        assert nodes and all(within(n["node_path"], street_path) for n in nodes)
        me = (await client.get("/api/v1/me", headers=headers)).json()
        assert me["kind"] == "api_key" and [g["role"] for g in me["grants"]] == ["integration"]
    # The integration role reads nodes but administers nothing.
    forbidden = await client.post("/api/v1/nodes", json={"parent_id": street, "name": "x"}, headers={"X-API-Key": key})
    assert forbidden.status_code == 403
    wrong = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    assert (await client.get("/api/v1/nodes", headers={"X-API-Key": wrong})).status_code == 401
    revoked = await client.post(f"/api/v1/api-keys/{created.json()['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/api/v1/nodes", headers={"X-API-Key": key})).status_code == 401


async def test_nobody_hands_out_a_role_above_their_own(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    admin = await login("admin@wuhou.demo")
    nanhong, _ = node_by_name("南虹村社区")
    staff = await login("staff@nanhong.demo")
    me = (await client.get("/api/v1/me", headers=staff)).json()
    promoted = await client.post(
        "/api/v1/grants", json={"user_id": me["id"], "role": "community_admin", "node_id": nanhong}, headers=admin
    )
    assert promoted.status_code == 201, promoted.text
    # Now a community administrator: may create keys and grants for roles up to his own ...
    ok = await client.post(
        "/api/v1/api-keys", json={"name": "hotline", "node_id": nanhong, "roles": ["integration"]}, headers=staff
    )
    assert ok.status_code == 201, ok.text
    # ... but not a district administrator's (which could onboard and offboard tenants).
    for url, body in (
        ("/api/v1/api-keys", {"name": "x", "node_id": nanhong, "roles": ["district_admin"]}),
        ("/api/v1/grants", {"user_id": me["id"], "role": "street_admin", "node_id": nanhong}),
        (
            "/api/v1/users/invitations",
            {"email": "boss@example.org", "display_name": "x", "role": "district_admin", "node_id": nanhong},
        ),
    ):
        response = await client.post(url, json=body, headers=staff)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"]["code"] == "grant_escalation"
    unknown = await client.post(
        "/api/v1/api-keys", json={"name": "x", "node_id": nanhong, "roles": ["superuser"]}, headers=staff
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_role"


async def test_me_returns_the_principal_and_its_grants(client: httpx.AsyncClient, login: CachedLogin) -> None:
    expectations = {
        "admin@wuhou.demo": [("district_admin", WUHOU)],
        "admin@luohu.demo": [("district_admin", LUOHU)],
        "auditor@wuhou.demo": [("auditor", WUHOU)],
        "grid@mumianling.demo": [("grid_worker", f"{LUOHU}.s005.c001.g01")],
        "property@yuefeng.demo": [("property_manager", f"{LUOHU}.s005.c001.g01.e01")],
    }
    for account, grants in expectations.items():
        response = await client.get("/api/v1/me", headers=await login(account))
        assert response.status_code == 200
        body = response.json()
        assert body["kind"] == "user" and body["email"] == account
        assert [(g["role"], g["node_path"]) for g in body["grants"]] == grants
        assert all(g["node_id"] == node_id(g["node_path"]) for g in body["grants"])
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_a_deactivated_account_loses_access_at_once(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    headers = await login("property@yuefeng.demo")
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    # No endpoint deactivates accounts yet, and the API role may not: the superuser does, for a moment.
    with superuser() as conn:
        conn.execute("update users set is_active = false where email = 'property@yuefeng.demo'")
        try:
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
            assert (await sign_in(client, "property@yuefeng.demo")).status_code == 401
        finally:
            conn.execute("update users set is_active = true where email = 'property@yuefeng.demo'")


async def test_behind_a_trusted_proxy_the_forwarded_client_is_rate_limited_and_others_not(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LINLI_FORWARDED_ALLOW_IPS: only the named proxy may say who the client is."""
    from linli.platform.app import create_app
    from linli.platform.settings import get_settings

    monkeypatch.setenv("LINLI_FORWARDED_ALLOW_IPS", "198.51.100.0/24")
    get_settings.cache_clear()
    try:
        application = create_app()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    application.state.session_override = lambda: db

    async def guess(peer: str, forwarded: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as http:
            return await http.post(
                TOKEN_URL,
                data={"username": f"probe-{forwarded}@example.org", "password": "x"},
                headers={"X-Forwarded-For": forwarded},
            )

    assert (await guess("198.51.100.7", "203.0.113.50")).status_code == 401  # through the proxy
    assert (await guess("192.0.2.9", "203.0.113.51")).status_code == 401  # a forged header, not believed
    recorded = await db.execute(
        text("select login, address from login_attempts where login like 'probe-%' order by id")
    )
    assert recorded.all() == [
        ("probe-203.0.113.50@example.org", "203.0.113.50"),
        ("probe-203.0.113.51@example.org", "192.0.2.9"),
    ]
    await db.execute(
        text(
            "insert into login_attempts (login, address, succeeded) "
            "select 'guess' || g || '@example.org', '203.0.113.50', false from generate_series(1, 29) g"
        )
    )
    limited = await guess("198.51.100.7", "203.0.113.50")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "login_rate_limited"
    assert (await guess("198.51.100.7", "203.0.113.52")).status_code == 401  # another client of the proxy
