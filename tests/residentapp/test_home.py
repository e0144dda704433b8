"""The home screen, the app's configuration, link services and the web app manifest."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Login
from tests.residentapp.conftest import NANHONG_RESIDENT, RESIDENT
from tests.tenants.support import tenant_id

APP = "/api/v1/app/mumianling"


async def test_home_shows_the_tenants_app_the_residents_place_and_open_items(
    client: httpx.AsyncClient, login: Login
) -> None:
    resident = await login(RESIDENT)
    created = await client.post(f"{APP}/reports", json={"item": "ph_elevator_fault"}, headers=resident)
    assert created.status_code == 201
    home = (await client.get(f"{APP}/home", headers=resident)).json()
    assert home["app"]["name"] == "木棉岭社区" and home["app"]["branding"]["app_name"] == "木棉岭社区邻里"
    assert home["app"]["branding"]["primary_color"] == "#07c160"
    assert [s["code"] for s in home["app"]["sections"]] == [
        "party",
        "property",
        "government",
        "community",
        "elderly",
        "medical",
    ]
    assert home["me"]["phone"] == "138****0001"
    (household,) = home["me"]["households"]
    assert household["estate_name"] == "悦峰尚府" and household["building"] and household["unit"]
    assert any(n["title"] == "关于开展消防安全检查的通知" for n in home["pinned_notices"])
    assert home["open_items"][0] == home["open_items"][0] | {"kind": "report", "id": created.json()["id"]}
    services = {s["code"]: s for section in home["app"]["sections"] for s in section["services"]}
    assert services["prop_fees"]["url"] == "https://pay.mumianling.example/fees"
    assert services["prop_repair"]["url"] is None and services["prop_repair"]["item_code"] == "ph_repair_request"


async def test_a_resident_of_another_tenant_gets_404(client: httpx.AsyncClient, login: Login) -> None:
    neighbour = await login(NANHONG_RESIDENT)
    assert (await client.get(f"{APP}/home", headers=neighbour)).status_code == 404
    home = (await client.get("/api/v1/app/nanhong/home", headers=neighbour)).json()
    assert home["app"]["branding"]["app_name"] == "南虹村社区邻里"
    assert [h["estate_name"] for h in home["me"]["households"]] == ["林荫街9号院"]
    assert all(n["title"] != "关于开展消防安全检查的通知" for n in home["pinned_notices"])


async def test_link_services_need_their_url_and_switched_off_ones_disappear(
    client: httpx.AsyncClient, login: Login
) -> None:
    staff = await login("staff@mumianling.demo")
    tid = tenant_id("mumianling")
    await client.patch(f"/api/v1/tenants/{tid}/services/prop_fees", json={"enabled": False}, headers=staff)
    config = (await client.get(f"{APP}/config")).json()
    codes = {s["code"] for section in config["sections"] for s in section["services"]}
    assert "prop_fees" not in codes and "com_delivery_1km" in codes
    # Nanhong set no URLs: its link services are not shown.
    nanhong = (await client.get("/api/v1/app/nanhong/config")).json()
    assert not any(s["kind"] == "link" for section in nanhong["sections"] for s in section["services"])


async def test_the_web_app_manifest_follows_the_branding(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/mumianling/manifest.webmanifest")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] == "木棉岭社区邻里" and manifest["theme_color"] == "#07c160"
    assert manifest["start_url"] == "/app/mumianling/" and manifest["display"] == "standalone"
    icon = await client.get(manifest["icons"][0]["src"])
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml" and "#07c160" in icon.text
    assert (await client.get("/app/no-such-tenant/manifest.webmanifest")).status_code == 404


async def test_home_is_answered_quickly(client: httpx.AsyncClient, login: Login) -> None:
    """A guard, not a benchmark (that is bench's, at the full-scale seed): a handful of indexed queries."""
    resident = await login(RESIDENT)
    await client.get(f"{APP}/home", headers=resident)
    took = []
    for _ in range(10):
        started = time.perf_counter()
        assert (await client.get(f"{APP}/home", headers=resident)).status_code == 200
        took.append(time.perf_counter() - started)
    assert sorted(took)[8] < 0.5, took
