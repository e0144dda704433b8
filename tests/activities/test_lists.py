"""The staff's list of activities, as the console filters it: by the audience's node and by status."""

from __future__ import annotations

import httpx

from tests.activities.test_signups import activity_in
from tests.conftest import Login
from tests.tenants.support import node_by_name


async def test_staff_list_activities_under_a_node_and_by_status(client: httpx.AsyncClient, login: Login) -> None:
    community, estate = node_by_name("木棉岭社区")[0], node_by_name("悦峰尚府")[0]
    staff = await login("staff@mumianling.demo")
    made = {}
    for node in (community, estate):
        created = await client.post(
            "/api/v1/activities", json=activity_in(node, capacity=5).model_dump(mode="json"), headers=staff
        )
        assert created.status_code == 201, created.text
        made[node] = created.json()["id"]
    cancelled = await client.post(f"/api/v1/activities/{made[community]}/cancel", headers=staff)
    assert cancelled.json()["status"] == "cancelled"

    async def listed(**query: object) -> list[int]:
        answer = await client.get("/api/v1/activities", params={"limit": 500, **query}, headers=staff)
        assert answer.status_code == 200, answer.text
        return [a["id"] for a in answer.json()["items"]]

    everything = await listed()
    assert made[community] in everything and made[estate] in everything
    under_estate = await listed(node_id=estate)
    assert made[estate] in under_estate and made[community] not in under_estate
    assert made[community] in await listed(status="cancelled")
    assert made[estate] not in await listed(status="cancelled")
    assert set(await listed(node_id=estate, status="open")) == {made[estate]}
    other = node_by_name("南虹村社区")[0]
    assert (await client.get("/api/v1/activities", params={"node_id": other}, headers=staff)).status_code == 404
