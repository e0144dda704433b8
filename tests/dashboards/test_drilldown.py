from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Login

RESIDENT = "13800000001"


async def node_id(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> int:
    response = await client.get("/api/v1/nodes", params={"q": name}, headers=headers)
    return int(next(n["id"] for n in response.json()["items"] if n["name"] == name))


async def dashboard(client: httpx.AsyncClient, headers: dict[str, str], nid: int, **params: str) -> httpx.Response:
    return await client.get(f"/api/v1/dashboards/nodes/{nid}", params=params, headers=headers)


async def test_a_report_shows_in_every_level_from_estate_to_district(client: httpx.AsyncClient, login: Login) -> None:
    admin = await login("admin@luohu.demo")
    estate = await node_id(client, admin, "悦峰尚府")
    before: dict[str, Any] = (await dashboard(client, admin, estate)).json()
    created = await client.post(
        "/api/v1/events",
        json={
            "item": "ph_repair_request",
            "description": "水管漏水",
            "node_id": estate,
            "location": {"building": "2栋", "unit": "1单元"},
        },
        headers=await login(RESIDENT),
    )
    assert created.status_code == 201, created.text

    after = (await dashboard(client, admin, estate)).json()
    assert after["events"]["total"] == before["events"]["total"] + 1
    assert after["events"]["open"] == before["events"]["open"] + 1
    assert after["by_item"]["ph_repair_request"] >= 1 and after["by_source"]["resident_report"] >= 1
    assert [b["level"] for b in after["breadcrumbs"]] == ["district", "street", "community", "grid"]

    # Walk back up: every ancestor counts the event, and the child on the way down carries it too.
    child_id = estate
    for crumb in reversed(after["breadcrumbs"]):
        level = (await dashboard(client, admin, crumb["id"])).json()
        child = next(c for c in level["children"] if c["node"]["id"] == child_id)
        assert child["events"]["total"] >= 1
        assert level["events"]["total"] >= child["events"]["total"]
        child_id = crumb["id"]


async def test_staff_see_their_community_without_the_levels_above(client: httpx.AsyncClient, login: Login) -> None:
    staff = await login("staff@mumianling.demo")
    community = await node_id(client, staff, "木棉岭社区")
    body = (await dashboard(client, staff, community)).json()
    assert body["breadcrumbs"] == []
    assert [c["node"]["level"] for c in body["children"]] == ["grid", "grid", "grid"]
    assert set(body["iot"]) == {"devices", "online", "offline", "open_alarms", "critical_alarms"}


async def test_other_district_and_bad_windows(client: httpx.AsyncClient, login: Login) -> None:
    community = await node_id(client, await login("staff@mumianling.demo"), "木棉岭社区")
    assert (await dashboard(client, await login("admin@wuhou.demo"), community)).status_code == 404
    staff = await login("staff@mumianling.demo")
    empty = await dashboard(client, staff, community, **{"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_window"
    naive = await dashboard(client, staff, community, **{"from": "2026-11-01T00:00:00"})
    assert naive.status_code == 400 and naive.json()["error"]["code"] == "naive_datetime"
    long = await dashboard(client, staff, community, **{"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert long.status_code == 400 and long.json()["error"]["code"] == "window_too_long"
