"""`GET /api/v1/routing-rules/test`: who would receive an item at a place, by dispatch's own resolution —
checked against the events that are then really reported there."""

from __future__ import annotations

import httpx

from tests.conftest import Login
from tests.events.conftest import Places
from tests.events.test_governance_loop import report

STAFF = "staff@mumianling.demo"


async def who_receives(client: httpx.AsyncClient, headers: dict[str, str], item: str, node_id: int) -> httpx.Response:
    return await client.get("/api/v1/routing-rules/test", params={"item": item, "node_id": node_id}, headers=headers)


async def test_the_tester_names_the_unit_dispatch_then_chooses(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    admin = await login("admin@luohu.demo")
    staff, resident = await login(STAFF), await login("13800000001")
    before = (await who_receives(client, admin, "ca_streetlight_fault", places.yuefeng)).json()
    units = await client.get(
        "/api/v1/handler-units", params={"node_id": places.mumianling, "kind": "mediation"}, headers=admin
    )
    mediation = units.json()["items"][0]
    assert before["handler_unit_id"] != mediation["id"]
    rule = await client.post(
        "/api/v1/routing-rules",
        json={"node_id": places.yuefeng, "item": "ca_streetlight_fault", "handler_unit_id": mediation["id"]},
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    for reporter, item, node in (
        (resident, "ca_streetlight_fault", places.yuefeng),
        (resident, "ca_road_damage", places.yuefeng),
        (staff, "ca_road_damage", places.other_estate),
    ):
        predicted = await who_receives(client, admin, item, node)
        assert predicted.status_code == 200, predicted.text
        event = await report(client, reporter, node, item, building="1栋")
        assert event.status_code == 201, event.text
        assert predicted.json()["routed"] is True
        assert predicted.json()["handler_unit_id"] == event.json()["handler"]["unit_id"], item
        assert predicted.json()["name"] == event.json()["handler"]["name"]
    light = (await who_receives(client, admin, "ca_streetlight_fault", places.yuefeng)).json()
    assert light["handler_unit_id"] == mediation["id"] and light["kind"] == "mediation"
    removed = await client.delete(f"/api/v1/routing-rules/{rule.json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert (await who_receives(client, admin, "ca_streetlight_fault", places.yuefeng)).json() == before


async def test_the_tester_refuses_unknown_items_other_tenants_places_and_roles_without_routing(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    admin = await login("admin@luohu.demo")
    unknown = await who_receives(client, admin, "no_such_item", places.yuefeng)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_item"
    nanhong_admin = await login("staff@nanhong.demo")
    elsewhere = await who_receives(client, nanhong_admin, "ca_road_damage", places.yuefeng)
    assert elsewhere.status_code in (403, 404)
    resident = await who_receives(client, await login("13800000001"), "ca_road_damage", places.yuefeng)
    assert resident.status_code == 403


async def test_a_units_members_are_listed_within_its_tenant_only(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    admin = await login("admin@luohu.demo")
    units = await client.get("/api/v1/handler-units", params={"node_id": places.mumianling}, headers=admin)
    unit = units.json()["items"][0]
    staff_id = (await client.get("/api/v1/me", headers=await login(STAFF))).json()["id"]
    added = await client.post(f"/api/v1/handler-units/{unit['id']}/members", json={"user_id": staff_id}, headers=admin)
    assert added.status_code == 201, added.text
    members = await client.get(f"/api/v1/handler-units/{unit['id']}/members", headers=admin)
    assert members.status_code == 200 and staff_id in members.json()["items"]
    elsewhere = await client.get(
        f"/api/v1/handler-units/{unit['id']}/members", headers=await login("staff@nanhong.demo")
    )
    assert elsewhere.status_code == 404
