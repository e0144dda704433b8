"""Identity: sign-in and its rate limits, rotating refresh tokens, password resets, API keys, /me."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.demo import DEMO_PASSWORD
from linli.platform.jobs import pool
from linli.tenants import service
from linli.tenants.models import User
from tests.tenants.support import (
    LUOHU,
    WUHOU,
    CachedLogin,
    all_items,
    node_by_name,
    node_id,
    superuser,
    system_scope,
    within,
)

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


async def record_failures(db: AsyncSession, login: str, addresses: list[str], at: datetime) -> None:
    """Failed sign-ins as the endpoint records them, at a given time."""
    for address in addresses:
        await db.execute(
            text("insert into login_attempts (login, address, succeeded, at) values (:l, :a, false, :at)"),
            {"l": login, "a": address, "at": at},
        )
    await db.commit()  # a savepoint: a refused request's rollback must not take them along


async def test_an_account_guessed_from_everywhere_answers_later_but_is_never_locked(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = "staff@mumianling.demo"
    # Other tests (the portal's, against a live server) commit failed sign-ins of demo accounts too.
    await db.execute(text("delete from login_attempts where login = :l"), {"l": account})
    # Seven failures from seven addresses (a distributed guess), the last one just now.
    failures = 7
    await record_failures(db, account, [f"198.18.0.{n}" for n in range(failures)], datetime.now(UTC))
    delayed = await sign_in(client, account)  # even the right password waits
    assert delayed.status_code == 429 and delayed.json()["error"]["code"] == "login_rate_limited"
    wait = service.login_delay(failures)
    assert wait == service.FIRST_LOGIN_DELAY * 4
    assert 0 < int(delayed.headers["retry-after"]) <= wait.total_seconds()
    # Refused while waiting, and not recorded: guessing during the wait does not prolong it.
    assert (await sign_in(client, account, "wrong-password")).status_code == 429
    count = await db.execute(text("select count(*) from login_attempts where login = :l"), {"l": account})
    assert count.scalar_one() == failures
    # The wait grows with every failure, up to a cap: never a lock.
    assert service.login_delay(service.FREE_FAILURES_PER_LOGIN - 1) == timedelta(0)
    assert service.login_delay(10_000) == service.MAX_LOGIN_DELAY
    # Once the wait is over, the owner signs in, and that success clears the account's record.
    later = service.now() + wait + timedelta(seconds=1)
    monkeypatch.setattr(service, "now", lambda: later)
    assert (await sign_in(client, account)).status_code == 200
    assert (await sign_in(client, account, "one-typo")).status_code == 401


async def test_a_client_guessing_one_account_does_not_lock_the_others_behind_its_address(
    client_at: httpx.AsyncClient, db: AsyncSession
) -> None:
    """A community office behind one NAT: one person mistyping (or guessing) does not stop colleagues."""
    for _ in range(service.MAX_FAILURES_PER_ADDRESS_AND_LOGIN):
        assert (await sign_in(client_at, "grid@mumianling.demo", "wrong-password")).status_code == 401
    limited = await sign_in(client_at, "grid@mumianling.demo")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert (await sign_in(client_at, "staff@nanhong.demo")).status_code == 200
    assert (await sign_in(client_at, "admin@wuhou.demo")).status_code == 200


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
    # More guesses at different accounts from the same address (recorded as the request above was).
    await db.execute(
        text(
            "insert into login_attempts (login, address, succeeded) "
            "select 'guess' || g || '@example.org', '203.0.113.7', false from generate_series(1, :n) g"
        ),
        {"n": service.MAX_FAILURES_PER_ADDRESS - 1},
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


async def queued_jobs(function: str) -> list[tuple[str, dict[str, Any]]]:
    """The queued arq jobs of `function`, read as the worker reads them (JSON)."""
    from linli.platform.jobs import pool

    redis = await pool()
    found = []
    async for key in redis.scan_iter(match="arq:job:*"):
        job = json.loads(await redis.get(key))
        if job["f"] == function:
            found.append((key.decode(), job))
    return found


async def test_password_reset_is_sent_by_the_worker_never_returned(
    client: httpx.AsyncClient, db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    for key, _ in await queued_jobs("tenants_send_password_reset"):
        await (await pool()).delete(key)
    tokens = text("select count(*) from user_tokens where purpose = 'reset'")
    async with system_scope(db):
        before = (await db.execute(tokens)).scalar_one()  # other tests' resets stay as they are
    known = await client.post("/api/v1/auth/password-reset", json={"login": "Grid@Mumianling.demo"})
    unknown = await client.post("/api/v1/auth/password-reset", json={"login": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()  # no account enumeration, and no token
    async with system_scope(db):
        assert (await db.execute(tokens)).scalar_one() == before  # the request only asked the worker
    queued = await queued_jobs("tenants_send_password_reset")
    assert sorted(job["a"] for _, job in queued) == [["grid@mumianling.demo"], ["nobody@example.org"]]
    for key, _ in queued:
        await (await pool()).delete(key)
    # The job (here on the test's session): the registered e-mail channel delivers it; in development
    # the message goes to the log (the outbox).
    with caplog.at_level(logging.WARNING, logger="linli.events.notifications"):
        assert await service.send_password_reset(db, login="grid@mumianling.demo")
        assert not await service.send_password_reset(db, login="nobody@example.org")
    [message] = [r.getMessage() for r in caplog.records if "outbox" in r.getMessage()]
    assert "to grid@mumianling.demo" in message
    token = message.split("token=")[1].split()[0]
    confirm = {"token": token, "password": "a-brand-new-password"}
    assert (await client.post("/api/v1/auth/password-reset/confirm", json=confirm)).status_code == 200
    assert (await sign_in(client, "grid@mumianling.demo", "a-brand-new-password")).status_code == 200


async def test_in_production_the_reset_link_goes_out_by_e_mail(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linli.events import notifications
    from linli.platform.settings import get_settings

    sent: list[dict[str, str]] = []

    class Recorder:
        async def send(self, *, to: str, subject: str, body: str) -> None:
            sent.append({"to": to, "subject": subject, "body": body})

    monkeypatch.setattr(get_settings(), "env", "production")
    monkeypatch.setattr(notifications, "default_senders", lambda: notifications.Senders(email=Recorder()))
    assert await service.send_password_reset(db, login="staff@nanhong.demo")
    assert [m["to"] for m in sent] == ["staff@nanhong.demo"] and "token=" in sent[0]["body"]


async def test_password_reset_is_single_use_and_expires(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str]] = []

    async def capture(user: User, token: str) -> None:
        sent.append((user.email or user.phone or "", token))

    monkeypatch.setattr(service, "RESET_NOTIFIERS", [capture])
    before = await sign_in(client, "grid@mumianling.demo")
    await service.send_password_reset(db, login="grid@mumianling.demo")
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
    await service.send_password_reset(db, login="grid@mumianling.demo")
    later = service.now() + service.RESET_TTL + timedelta(seconds=1)
    monkeypatch.setattr(service, "now", lambda: later)
    expired = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": sent[-1][1], "password": "too-late-password"}
    )
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalid_reset_token"


async def test_logout_ends_the_whole_session_by_refresh_token_or_by_access_token(client: httpx.AsyncClient) -> None:
    first = await sign_in(client, "staff@nanhong.demo")
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first.json()["refresh_token"]})
    other = await sign_in(client, "staff@nanhong.demo")  # another device
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": first.json()["refresh_token"]})
    assert out.status_code == 204
    # The newest token of that family is dead too, the other device's session is not.
    dead = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]})
    assert dead.status_code == 401
    alive = await client.post("/api/v1/auth/refresh", json={"refresh_token": other.json()["refresh_token"]})
    assert alive.status_code == 200
    # Logging out with the session's access token only.
    assert (await client.post("/api/v1/auth/logout", headers=bearer(alive))).status_code == 204
    ended = await client.post("/api/v1/auth/refresh", json={"refresh_token": alive.json()["refresh_token"]})
    assert ended.status_code == 401
    assert (await client.post("/api/v1/auth/logout")).status_code == 401
    unknown = await client.post("/api/v1/auth/logout", json={"refresh_token": "x" * 43})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_refresh_token"


async def test_old_sign_in_attempts_are_pruned_by_a_nightly_job(db: AsyncSession) -> None:
    from linli.tenants import jobs

    old = datetime.now(UTC) - service.LOGIN_ATTEMPT_RETENTION - timedelta(hours=1)
    await record_failures(db, "pruned@example.org", ["192.0.2.1"], old)
    await record_failures(db, "kept@example.org", ["192.0.2.1"], datetime.now(UTC))
    assert await service.prune_login_attempts(db) >= 1
    left = await db.execute(
        text("select login from login_attempts where login in ('pruned@example.org', 'kept@example.org')")
    )
    assert left.scalars().all() == ["kept@example.org"]
    assert any(c.coroutine is jobs.prune_login_attempts for c in jobs.CRON)


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
            "select 'guess' || g || '@example.org', '203.0.113.50', false from generate_series(1, :n) g"
        ),
        {"n": service.MAX_FAILURES_PER_ADDRESS - 1},
    )
    limited = await guess("198.51.100.7", "203.0.113.50")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "login_rate_limited"
    assert (await guess("198.51.100.7", "203.0.113.52")).status_code == 401  # another client of the proxy
