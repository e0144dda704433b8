"""GET /api/v1/me/permissions: what the console's menu and controls are drawn from."""

from __future__ import annotations

import httpx

from linli.platform.access import PERMISSION_DEPENDENCIES, role_permits
from tests.conftest import Login

WRITES = {"create", "update", "delete", "transition", "acknowledge", "send", "attach", "rate", "invite"}


async def test_staff_permissions_follow_the_policy_per_grant(client: httpx.AsyncClient, login: Login) -> None:
    response = await client.get("/api/v1/me/permissions", headers=await login("staff@mumianling.demo"))
    assert response.status_code == 200
    body = response.json()
    [grant] = body["grants"]
    assert grant["role"] == "community_staff"
    assert "transition" in grant["allowed"]["events"] and "acknowledge" in grant["allowed"]["alarms"]
    assert "tenants" not in body["allowed"] or "offboard" not in body["allowed"]["tenants"]
    # Exactly the pairs the endpoints require that casbin grants the role: nothing invented, nothing missing.
    expected = {pair for pair in set(PERMISSION_DEPENDENCIES.values()) if role_permits("community_staff", *pair)}
    assert {(r, a) for r, actions in grant["allowed"].items() for a in actions} == expected


async def test_an_auditor_holds_no_write_action_anywhere(client: httpx.AsyncClient, login: Login) -> None:
    body = (await client.get("/api/v1/me/permissions", headers=await login("auditor@wuhou.demo"))).json()
    actions = {a for acts in body["allowed"].values() for a in acts}
    assert "read" in actions and "export" in body["allowed"]["audit"]
    assert not actions & WRITES


async def test_permissions_need_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me/permissions")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
