from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from linli.iot.service import refresh_device_counts
from linli.platform.db import SYSTEM_SCOPE, apply_scopes, session_factory
from linli.platform.settings import get_settings
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


async def test_the_screen_links_the_grafana_dashboard_of_its_level(
    client: httpx.AsyncClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = await login("staff@mumianling.demo")
    community = await node_id(client, staff, "木棉岭社区")
    body = (await dashboard(client, staff, community)).json()
    assert body["grafana_url"] is None and body["iot"]["devices"] > 0
    monkeypatch.setattr(get_settings(), "grafana_url", "https://grafana.example.org/")
    link = (await dashboard(client, staff, community)).json()["grafana_url"]
    assert link.startswith("https://grafana.example.org/d/linli-community?var-node=d440303.s005.c001&from=")
    admin = await login("admin@luohu.demo")
    district = await node_id(client, admin, "罗湖区")
    assert (await dashboard(client, admin, district)).json()["grafana_url"] is None  # no tenant is a district


async def test_device_counts_follow_the_registry_at_the_workers_next_count() -> None:
    """The dashboards sum per-node counts the worker refreshes (counting 400 000 devices per request was
    a second); here in a worker transaction of its own, rolled back."""
    summary = text("select devices from linli_iot_summary(text2ltree('d440303.s005.c001'))")
    async with session_factory("worker")() as worker:
        try:
            await apply_scopes(worker, SYSTEM_SCOPE)
            await refresh_device_counts(worker)  # devices other tests committed are counted first
            before = (await worker.execute(summary)).scalar_one()
            await worker.execute(
                text(
                    "insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, "
                    "mqtt_username) select t.id, n.id, n.node_path, 'door_sensor', 'COUNTED-1', '{}', 'x', 'counted' "
                    "from nodes n join tenants t on t.slug = 'mumianling' where n.name = '悦峰尚府'"
                )
            )
            assert (await worker.execute(summary)).scalar_one() == before
            await refresh_device_counts(worker)
            assert (await worker.execute(summary)).scalar_one() == before + 1
        finally:
            await worker.rollback()
