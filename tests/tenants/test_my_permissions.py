"""`GET /me/permissions`: what each grant allows, spelled out from the policies, for the console's menu."""

from __future__ import annotations

from typing import Any

import httpx

from linli.platform.access import known_permissions
from tests.tenants.support import LUOHU, CachedLogin, node_id

URL = "/api/v1/me/permissions"


async def permissions(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_community_staff_see_their_node_and_what_they_may_do_there(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    me = await permissions(client, await login("staff@mumianling.demo"))
    [grant] = me["grants"]
    assert me["kind"] == "user" and grant["role"] == "community_staff" and grant["grant_id"] > 0
    assert grant["node"]["name"] == "木棉岭社区" and grant["node"]["level"] == "community"
    # The way up shows only what the caller may see: here the community itself.
    assert [n["name"] for n in grant["breadcrumbs"]] == ["木棉岭社区"]
    allowed = grant["permissions"]
    assert {"read", "create", "transition", "dispatch", "attach", "rate"} <= set(allowed["events"])
    assert allowed["commands"] == sorted(known_permissions()["commands"])
    assert allowed["services"] == ["read", "update"] and allowed["users"] == ["invite", "read"]
    assert "audit" not in allowed and "tenants" in allowed and allowed["tenants"] == ["read"]
    assert me["union"] == allowed


async def test_a_district_administrator_has_every_action_spelled_out(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    me = await permissions(client, await login("admin@luohu.demo"))
    [grant] = me["grants"]
    assert grant["permissions"] == {r: sorted(a) for r, a in sorted(known_permissions().items())}
    assert {"onboard", "offboard", "export"} <= set(grant["permissions"]["tenants"])
    assert [n["level"] for n in grant["breadcrumbs"]] == ["district"]


async def test_auditors_read_and_residents_act_on_their_own_records(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    auditor = (await permissions(client, await login("auditor@wuhou.demo")))["grants"][0]["permissions"]
    assert auditor["audit"] == ["export", "read"] and auditor["events"] == ["read"]
    assert all(actions == ["read"] for resource, actions in auditor.items() if resource != "audit")
    [resident] = (await permissions(client, await login("13800000001")))["grants"]
    assert resident["own_records_only"] is True and resident["node"]["name"] == "悦峰尚府"
    assert resident["permissions"]["events"] == ["attach", "create", "rate", "read", "transition"]
    assert "devices" not in resident["permissions"]


async def test_an_api_key_has_its_roles_without_grant_ids(client: httpx.AsyncClient, login: CachedLogin) -> None:
    created = await client.post(
        "/api/v1/api-keys",
        json={"name": "hotline bridge", "node_id": node_id(f"{LUOHU}.s005"), "roles": ["integration"]},
        headers=await login("admin@luohu.demo"),
    )
    assert created.status_code == 201, created.text
    me = await permissions(client, {"X-Api-Key": created.json()["key"]})
    [grant] = me["grants"]
    assert me["kind"] == "api_key" and grant["grant_id"] is None and grant["node"]["name"] == "东晓街道"
    assert grant["permissions"] == {
        "events": ["create", "read"],
        "nodes": ["read"],
        "telemetry": ["ingest"],
    }
    assert (await client.get(URL)).status_code == 401
