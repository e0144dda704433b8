from __future__ import annotations

import httpx

from tests.conftest import Login


async def tenant_id(client: httpx.AsyncClient, headers: dict[str, str], slug: str) -> int:
    response = await client.get("/api/v1/tenants", headers=headers)
    assert response.status_code == 200, response.text
    return next(t["id"] for t in response.json()["items"] if t["slug"] == slug)


async def test_onboarded_tenant_has_the_whole_catalog_on(client: httpx.AsyncClient, login: Login) -> None:
    headers = await login("staff@mumianling.demo")
    tid = await tenant_id(client, headers, "mumianling")
    response = await client.get(f"/api/v1/tenants/{tid}/services", headers=headers)
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 72
    assert all(s["enabled"] for s in items)
    assert {s["section"] for s in items} == {"party", "property", "government", "community", "elderly", "medical"}


async def test_staff_switches_renames_and_reorders_services(client: httpx.AsyncClient, login: Login) -> None:
    headers = await login("staff@mumianling.demo")
    tid = await tenant_id(client, headers, "mumianling")
    off = await client.patch(f"/api/v1/tenants/{tid}/services/prop_fees", headers=headers, json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    renamed = await client.patch(
        f"/api/v1/tenants/{tid}/services/prop_repair", headers=headers, json={"name": "一键报修", "name_en": "Fix it"}
    )
    assert renamed.json()["name"] == "一键报修" and renamed.json()["catalog_name"] == "在线报修"
    ordered = await client.put(
        f"/api/v1/tenants/{tid}/services/order", headers=headers, json={"codes": ["prop_repair", "prop_visitor_pass"]}
    )
    assert [s["code"] for s in ordered.json()["items"][:2]] == ["prop_repair", "prop_visitor_pass"]

    config = (await client.get("/api/v1/app/mumianling/config")).json()
    codes = [s["code"] for section in config["sections"] for s in section["services"]]
    assert "prop_fees" not in codes
    assert codes[0] == "prop_repair"
    assert config["sections"][0]["services"][0]["name"] == "一键报修"
    assert config["branding"]["app_name"] == "木棉岭社区邻里"

    audit = await client.get(
        "/api/v1/audit", params={"object_type": "tenant_service"}, headers=await login("admin@luohu.demo")
    )
    assert {e["action"] for e in audit.json()["items"]} >= {"service.update", "service.reorder"}


async def test_bad_service_input_is_a_clear_4xx(client: httpx.AsyncClient, login: Login) -> None:
    headers = await login("staff@mumianling.demo")
    tid = await tenant_id(client, headers, "mumianling")
    unknown = await client.patch(f"/api/v1/tenants/{tid}/services/no_such", headers=headers, json={"enabled": True})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_service"
    bad_link = await client.patch(
        f"/api/v1/tenants/{tid}/services/prop_fees", headers=headers, json={"config": {"url": "javascript:alert(1)"}}
    )
    assert bad_link.status_code == 400 and bad_link.json()["error"]["code"] == "invalid_service_config"
    forged = await client.patch(
        f"/api/v1/tenants/{tid}/services/prop_fees", headers=headers, json={"enabled": True, "tenant_id": 1}
    )
    assert forged.status_code == 422
    twice = await client.put(
        f"/api/v1/tenants/{tid}/services/order", headers=headers, json={"codes": ["prop_fees", "prop_fees"]}
    )
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "duplicate_service"


async def test_other_tenants_services_are_invisible(client: httpx.AsyncClient, login: Login) -> None:
    tid = await tenant_id(client, await login("staff@mumianling.demo"), "mumianling")
    for account in ("staff@nanhong.demo", "admin@wuhou.demo"):
        headers = await login(account)
        assert (await client.get(f"/api/v1/tenants/{tid}/services", headers=headers)).status_code == 404
        patch = await client.patch(
            f"/api/v1/tenants/{tid}/services/prop_fees", headers=headers, json={"enabled": False}
        )
        assert patch.status_code == 404
    assert (await client.get("/api/v1/app/no-such-tenant/config")).status_code == 404


async def test_auditor_cannot_change_services(client: httpx.AsyncClient, login: Login) -> None:
    headers = await login("auditor@wuhou.demo")
    tid = await tenant_id(client, headers, "nanhong")
    response = await client.patch(f"/api/v1/tenants/{tid}/services/prop_fees", headers=headers, json={"enabled": False})
    assert response.status_code == 403


async def test_the_catalog_is_what_a_new_tenant_starts_with(client: httpx.AsyncClient, login: Login) -> None:
    headers = await login("admin@wuhou.demo")
    catalog = await client.get("/api/v1/services/catalog", headers=headers)
    assert catalog.status_code == 200, catalog.text
    items = catalog.json()["items"]
    assert len(items) == 72 and all(s["enabled"] and s["name"] == s["catalog_name"] for s in items)
    assert [s["position"] for s in items] == sorted(s["position"] for s in items)
    staff = await login("staff@mumianling.demo")
    tid = await tenant_id(client, staff, "mumianling")
    tenant = (await client.get(f"/api/v1/tenants/{tid}/services", headers=staff)).json()["items"]
    assert {s["code"] for s in tenant} == {s["code"] for s in items}
    assert (await client.get("/api/v1/services/catalog")).status_code == 401
