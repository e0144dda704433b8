"""Onboarding, suspension, nested settings and offboarding of tenants."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from linli.tenants import lifecycle
from linli.tenants.models import Tenant
from tests.tenants.support import (
    LUOHU,
    WUHOU,
    CachedLogin,
    node_by_name,
    node_id,
    not_onboarded_community,
    system_scope,
    tenant_id,
)


async def system_rows(db: AsyncSession, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Read what the test's (uncommitted) requests wrote, across every scope."""
    async with system_scope(db):
        return [dict(r) for r in (await db.execute(text(sql), params)).mappings()]


async def audit_for_request(db: AsyncSession, request_id: str) -> list[dict[str, Any]]:
    return await system_rows(
        db,
        "select action, object_type, object_id, after from audit_log where request_id = :r order by id",
        r=request_id,
    )


def rid() -> dict[str, str]:
    return {"X-Request-ID": uuid.uuid4().hex}


async def onboard(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> tuple[httpx.Response, str]:
    request_headers = headers | rid()
    response = await client.post("/api/v1/tenants", json=body, headers=request_headers)
    return response, request_headers["X-Request-ID"]


async def test_district_admin_onboards_a_community(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    community, path = not_onboarded_community(WUHOU)
    response, request_id = await onboard(
        client,
        await login("admin@wuhou.demo"),
        node_id=community,
        slug="onboard-one",
        admin_email="First.Admin@Example.org",
        branding={"app_name": "新邻里", "primary_color": "#112233"},
        settings={"quiet_hours": "22:00-07:00"},
    )
    assert response.status_code == 201, response.text
    out = response.json()
    tenant = out["tenant"]
    assert (tenant["status"], tenant["node_path"], tenant["slug"]) == ("active", path, "onboard-one")
    assert tenant["branding"]["app_name"] == "新邻里"
    assert tenant["effective_settings"]["quiet_hours"] == "22:00-07:00"
    # One transaction, one audit entry (the administrator's grant is a step inside it), e-mail masked.
    entries = await audit_for_request(db, request_id)
    assert [e["action"] for e in entries] == ["tenant.onboard"]
    after = entries[0]["after"]
    assert after["admin_email"] == "f***@example.org"
    assert "First.Admin" not in str(after)
    assert [s["action"] for s in after["steps"]] == ["grant.create"]
    # The invitation works once and gives a community administrator of exactly that community.
    token = out["invitation_token"]
    assert token
    accept = {"token": token, "password": "a-new-password-2026", "display_name": "第一位管理员"}
    first = await client.post("/api/v1/auth/invitations/accept", json=accept)
    assert first.status_code == 200, first.text
    headers = {"Authorization": f"Bearer {first.json()['access_token']}"}
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert [(g["role"], g["node_path"]) for g in me["grants"]] == [("community_admin", path)]
    assert me["email"] == "first.admin@example.org" and me["display_name"] == "第一位管理员"
    second = await client.post("/api/v1/auth/invitations/accept", json=accept | {"password": "another-one-2026"})
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "invalid_invitation_token"
    signed_in = await client.post(
        "/api/v1/auth/token", data={"username": "first.admin@example.org", "password": "a-new-password-2026"}
    )
    assert signed_in.status_code == 200
    # The new tenant is listed for the district, with its own settings.
    got = await client.get(f"/api/v1/tenants/{tenant['id']}", headers=headers)
    assert got.status_code == 200 and got.json()["slug"] == "onboard-one"


async def test_onboarding_hooks_run_in_the_same_transaction_and_entry(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    async def hook(session: AsyncSession, tenant: Tenant) -> None:
        seen.append(tenant.slug)
        from linli.platform import audit

        await audit.record(
            session,
            actor=None,
            action="routing.defaults",
            object_type="tenant",
            object_id=tenant.id,
            node_path=tenant.node_path,
            after={"contact_phone": "13812345678"},
        )

    monkeypatch.setattr(lifecycle, "ONBOARDING_HOOKS", [hook])
    community, _ = not_onboarded_community(WUHOU)
    response, request_id = await onboard(
        client, await login("admin@wuhou.demo"), node_id=community, slug="hooked", admin_email="h@example.org"
    )
    assert response.status_code == 201, response.text
    assert seen == ["hooked"]
    entries = await audit_for_request(db, request_id)
    assert [e["action"] for e in entries] == ["tenant.onboard"]
    steps = entries[0]["after"]["steps"]
    assert [s["action"] for s in steps] == ["grant.create", "routing.defaults"]
    assert steps[1]["after"]["contact_phone"] == "138****5678"


async def test_onboarding_the_same_node_twice_is_a_clear_409(client: httpx.AsyncClient, login: CachedLogin) -> None:
    headers = await login("admin@wuhou.demo")
    community, _ = not_onboarded_community(WUHOU)
    first, _ = await onboard(client, headers, node_id=community, slug="twice-a", admin_email="t@example.org")
    assert first.status_code == 201
    again, _ = await onboard(client, headers, node_id=community, slug="twice-b", admin_email="t@example.org")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "tenant_exists"
    demo_tenant, _ = await onboard(
        client, headers, node_id=node_by_name("南虹村社区")[0], slug="twice-c", admin_email="t@example.org"
    )
    assert demo_tenant.status_code == 409
    other, _ = not_onboarded_community(WUHOU, skip=1)
    taken, _ = await onboard(client, headers, node_id=other, slug="twice-a", admin_email="t@example.org")
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "slug_taken"


async def test_a_slug_taken_in_another_district_is_409_not_500(client: httpx.AsyncClient, login: CachedLogin) -> None:
    """Luohu cannot see Wuhou's tenant `yulin` (RLS), but the unique index can."""
    community, _ = not_onboarded_community(LUOHU)
    response, _ = await onboard(
        client, await login("admin@luohu.demo"), node_id=community, slug="yulin", admin_email="l@example.org"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "slug_taken"


async def test_who_may_not_onboard(client: httpx.AsyncClient, login: CachedLogin) -> None:
    community, _ = not_onboarded_community(WUHOU)
    body = {"node_id": community, "slug": "refused", "admin_email": "r@example.org"}
    for account in ("staff@nanhong.demo", "auditor@wuhou.demo", "grid@mumianling.demo"):
        response = await client.post("/api/v1/tenants", json=body, headers=await login(account))
        assert response.status_code == 403, (account, response.text)
    # A Luohu administrator does not even learn that the Wuhou community exists.
    response = await client.post("/api/v1/tenants", json=body, headers=await login("admin@luohu.demo"))
    assert response.status_code == 404
    # Only streets and communities can be tenants; tenant, path and role fields cannot be forged.
    grid = node_id(f"{WUHOU}.s001.c001.g01")
    for bad in (
        body | {"node_id": grid},
        body | {"node_path": "d440303"},
        body | {"status": "active", "role": "district_admin"},
    ):
        response = await client.post("/api/v1/tenants", json=bad, headers=await login("admin@wuhou.demo"))
        assert response.status_code in (400, 422), response.text
        assert response.json()["error"]["code"] in ("not_a_tenant_level", "validation_error")


async def test_onboarding_a_new_community_by_name_and_street(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    street = node_id(f"{WUHOU}.s002")
    response, request_id = await onboard(
        client,
        await login("admin@wuhou.demo"),
        community_name="锦城新社区",
        parent_street_id=street,
        slug="jincheng-new",
        admin_email="jc@example.org",
    )
    assert response.status_code == 201, response.text
    tenant = response.json()["tenant"]
    assert tenant["node_path"].startswith(f"{WUHOU}.s002.c")
    node = (await client.get(f"/api/v1/nodes/{tenant['node_id']}", headers=await login("admin@wuhou.demo"))).json()
    assert (node["level"], node["name"], node["parent_id"]) == ("community", "锦城新社区", street)
    entries = await audit_for_request(db, request_id)
    assert [e["action"] for e in entries] == ["tenant.onboard"]
    assert [s["action"] for s in entries[0]["after"]["steps"]] == ["node.create", "grant.create"]
    # A community is not a street.
    community, _ = not_onboarded_community(WUHOU)
    bad, _ = await onboard(
        client,
        await login("admin@wuhou.demo"),
        community_name="x社区",
        parent_street_id=community,
        slug="not-a-street",
        admin_email="jc@example.org",
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "not_a_street"


async def test_an_existing_account_is_never_handed_an_invitation(client: httpx.AsyncClient, login: CachedLogin) -> None:
    """Inviting an existing e-mail must not give the inviter a way to set that account's password."""
    community, path = not_onboarded_community(WUHOU)
    response, _ = await onboard(
        client, await login("admin@wuhou.demo"), node_id=community, slug="takeover", admin_email="admin@luohu.demo"
    )
    assert response.status_code == 201
    assert response.json()["invitation_token"] is None
    invite = await client.post(
        "/api/v1/users/invitations",
        json={"email": "auditor@wuhou.demo", "display_name": "x", "role": "community_staff", "node_id": community},
        headers=await login("admin@wuhou.demo"),
    )
    assert invite.status_code == 201, invite.text
    assert invite.json()["invitation_token"] is None
    # The existing account keeps its password and simply gains the grant.
    luohu = await client.post(
        "/api/v1/auth/token", data={"username": "admin@luohu.demo", "password": "linli-demo-2026"}
    )
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {luohu.json()['access_token']}"})).json()
    assert ("community_admin", path) in [(g["role"], g["node_path"]) for g in me["grants"]]


async def test_a_pending_account_another_tenant_invited_is_not_handed_to_a_second_inviter(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    """The invitation token sets the password: whoever receives it owns the account and every grant."""
    wuhou, luohu = await login("admin@wuhou.demo"), await login("admin@luohu.demo")
    nanhong, _ = node_by_name("南虹村社区")
    mumianling, mumianling_path = node_by_name("木棉岭社区")

    async def invite(headers: dict[str, str], node: int) -> httpx.Response:
        body = {"email": "pending.person@example.org", "display_name": "待激活", "role": "community_staff"}
        response = await client.post("/api/v1/users/invitations", json=body | {"node_id": node}, headers=headers)
        assert response.status_code == 201, response.text
        return response

    first = (await invite(wuhou, nanhong)).json()["invitation_token"]
    assert first  # a new account: the inviter covers all it holds
    assert (await invite(wuhou, nanhong)).json()["invitation_token"]  # re-sent by the same tenant
    assert (await invite(luohu, mumianling)).json()["invitation_token"] is None
    # Now that two tenants hold grants, neither inviter gets a token; the first invitation still works.
    assert (await invite(wuhou, nanhong)).json()["invitation_token"] is None
    accept = {"token": first, "password": "pending-person-2026"}
    assert (await client.post("/api/v1/auth/invitations/accept", json=accept)).status_code == 200
    signed_in = await client.post(
        "/api/v1/auth/token", data={"username": "pending.person@example.org", "password": "pending-person-2026"}
    )
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"})
    assert ("community_staff", mumianling_path) in [(g["role"], g["node_path"]) for g in me.json()["grants"]]


async def test_a_suspended_tenant_is_read_only(client: httpx.AsyncClient, login: CachedLogin) -> None:
    admin = await login("admin@wuhou.demo")
    nanhong_id, nanhong_path = node_by_name("南虹村社区")
    nanhong = tenant_id("nanhong")
    grid = node_id(f"{nanhong_path}.g01")
    elsewhere, _ = not_onboarded_community(WUHOU)
    outside_grid = node_id(f"{not_onboarded_community(WUHOU)[1]}.g01")
    key = await client.post(
        "/api/v1/api-keys", json={"name": "before", "node_id": nanhong_id, "roles": ["integration"]}, headers=admin
    )
    assert key.status_code == 201
    suspended = await client.patch(f"/api/v1/tenants/{nanhong}", json={"status": "suspended"}, headers=admin)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    staff_user = await client.get("/api/v1/users", params={"node_id": nanhong_id}, headers=admin)
    user_id = staff_user.json()["items"][0]["user_id"]
    refused = [
        ("POST", "/api/v1/nodes", {"parent_id": nanhong_id, "name": "新网格"}),
        ("PATCH", f"/api/v1/nodes/{grid}", {"name": "改名"}),
        ("POST", f"/api/v1/nodes/{grid}/archive", None),
        ("POST", f"/api/v1/nodes/{grid}/move", {"new_parent_id": elsewhere}),
        ("POST", f"/api/v1/nodes/{outside_grid}/move", {"new_parent_id": nanhong_id}),
        ("POST", "/api/v1/grants", {"user_id": user_id, "role": "grid_worker", "node_id": grid}),
        (
            "POST",
            "/api/v1/users/invitations",
            {"email": "s@example.org", "display_name": "s", "role": "community_staff", "node_id": nanhong_id},
        ),
        ("POST", "/api/v1/api-keys", {"name": "k", "node_id": nanhong_id, "roles": ["integration"]}),
        ("PATCH", f"/api/v1/tenants/{nanhong}", {"settings": {"x": 1}}),
        ("PATCH", f"/api/v1/tenants/{nanhong}", {"branding": {"app_name": "x"}}),
    ]
    for method, url, body in refused:
        response = await client.request(method, url, json=body, headers=admin)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["error"]["code"] == "tenant_read_only", (method, url)
    # Reading goes on; revoking access stays possible.
    assert (await client.get(f"/api/v1/nodes/{grid}", headers=admin)).status_code == 200
    revoked = await client.post(f"/api/v1/api-keys/{key.json()['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    # Reactivated, it is writable again.
    active = await client.patch(f"/api/v1/tenants/{nanhong}", json={"status": "active"}, headers=admin)
    assert active.status_code == 200 and active.json()["status"] == "active"
    created = await client.post("/api/v1/nodes", json={"parent_id": nanhong_id, "name": "新网格"}, headers=admin)
    assert created.status_code == 201, created.text


async def test_a_suspended_street_makes_its_communities_read_only(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    """The community's staff cannot see the street's tenant row (RLS), and are still stopped."""
    staff = await login("staff@nanhong.demo")
    nanhong_id, _ = node_by_name("南虹村社区")

    async def invite(email: str) -> httpx.Response:
        body = {"email": email, "display_name": "新同事", "role": "community_staff", "node_id": nanhong_id}
        return await client.post("/api/v1/users/invitations", json=body, headers=staff)

    assert (await invite("colleague1@example.org")).status_code == 201
    yulin = tenant_id("yulin")
    response = await client.patch(
        f"/api/v1/tenants/{yulin}", json={"status": "suspended"}, headers=await login("admin@wuhou.demo")
    )
    assert response.status_code == 200
    refused = await invite("colleague2@example.org")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "tenant_read_only"


async def test_a_community_inherits_its_street_settings_unless_it_overrides_them(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    admin = await login("admin@wuhou.demo")
    yulin, nanhong = tenant_id("yulin"), tenant_id("nanhong")
    street = await client.patch(
        f"/api/v1/tenants/{yulin}", json={"settings": {"hotline": "12345", "language": "zh-CN"}}, headers=admin
    )
    assert street.status_code == 200
    community = await client.patch(f"/api/v1/tenants/{nanhong}", json={"settings": {"language": "en"}}, headers=admin)
    assert community.status_code == 200
    seen = await client.get(f"/api/v1/tenants/{nanhong}", headers=await login("staff@nanhong.demo"))
    assert seen.status_code == 200
    body = seen.json()
    assert body["settings"] == {"language": "en"}
    assert body["effective_settings"]["hotline"] == "12345"
    assert body["effective_settings"]["language"] == "en"
    # The street itself is not visible to the community's staff.
    assert (await client.get(f"/api/v1/tenants/{yulin}", headers=await login("staff@nanhong.demo"))).status_code == 404


async def test_offboarding_exports_and_deletes_after_the_grace_period(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    admin = await login("admin@wuhou.demo")
    nanhong = tenant_id("nanhong")
    nanhong_node, nanhong_path = node_by_name("南虹村社区")
    response = await client.post(f"/api/v1/tenants/{nanhong}/offboard", headers=admin)
    assert response.status_code == 200, response.text
    tenant = response.json()
    assert tenant["status"] == "offboarded"
    delete_after = datetime.fromisoformat(tenant["delete_after"])
    assert delete_after - datetime.fromisoformat(tenant["created_at"]) > timedelta(days=29)
    again = await client.post(f"/api/v1/tenants/{nanhong}/offboard", headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "tenant_offboarded"
    reactivate = await client.patch(f"/api/v1/tenants/{nanhong}", json={"status": "active"}, headers=admin)
    assert reactivate.status_code == 409
    write = await client.post("/api/v1/nodes", json={"parent_id": nanhong_node, "name": "x"}, headers=admin)
    assert write.status_code == 403 and write.json()["error"]["code"] == "tenant_read_only"
    # The archive: every tenant-owned table, only this tenant's rows.
    export = await client.get(f"/api/v1/tenants/{nanhong}/export", headers=admin)
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    archive = export.json()
    assert archive["tenant"]["slug"] == "nanhong"
    assert {"nodes", "locations", "role_grants", "api_keys", "audit_log", "tenants"} <= set(archive)
    assert nanhong_path in {n["node_path"] for n in archive["nodes"]}
    assert len(archive["nodes"]) > 3 and archive["locations"]
    assert all(str(r["node_path"]).startswith(nanhong_path) for t in archive.values() if isinstance(t, list) for r in t)
    assert "tenant.offboard" in {a["action"] for a in archive["audit_log"]}
    assert (
        await client.get(f"/api/v1/tenants/{nanhong}/export", headers=await login("auditor@wuhou.demo"))
    ).status_code == 403
    # Nothing is deleted before the grace period ends; afterwards the tenant's data is.
    async with system_scope(db):
        assert await lifecycle.purge_offboarded(db, at=delete_after - timedelta(days=1)) == []
        assert await lifecycle.purge_offboarded(db, at=delete_after + timedelta(seconds=1)) == ["nanhong"]
    left = await system_rows(
        db,
        "select (select count(*) from tenants where slug = 'nanhong') as tenants,"
        " (select count(*) from role_grants where node_path <@ text2ltree(:p)) as grants,"
        " (select count(*) from nodes where node_path <@ text2ltree(:p)) as nodes,"
        " (select count(*) from audit_log where action = 'tenant.purge' and node_path = text2ltree(:p)) as purges",
        p=nanhong_path,
    )
    assert left[0]["tenants"] == 0 and left[0]["grants"] == 0
    assert left[0]["nodes"] > 3 and left[0]["purges"] == 1
    # Purging again is a no-op, and the community can be onboarded afresh.
    async with system_scope(db):
        assert await lifecycle.purge_offboarded(db, at=delete_after + timedelta(days=1)) == []
    fresh, _ = await onboard(client, admin, node_id=nanhong_node, slug="nanhong-again", admin_email="n@example.org")
    assert fresh.status_code == 201, fresh.text


def test_purge_command_runs(migrated_database: str) -> None:
    from linli.cli import app

    result = CliRunner().invoke(app, ["tenants", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged 0 tenant(s)" in result.output
