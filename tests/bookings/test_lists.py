"""The staff's list of resources, as the console filters it: those under a node."""

from __future__ import annotations

import httpx

from tests.bookings.test_bookings import resource_in
from tests.conftest import Login
from tests.tenants.support import node_by_name


async def test_staff_list_the_resources_under_a_node(client: httpx.AsyncClient, login: Login) -> None:
    community, estate = node_by_name("木棉岭社区")[0], node_by_name("悦峰尚府")[0]
    staff = await login("staff@mumianling.demo")
    created = await client.post(
        "/api/v1/resources", json=resource_in(estate, name="悦峰尚府会客室").model_dump(mode="json"), headers=staff
    )
    assert created.status_code == 201, created.text

    async def listed(node_id: int) -> list[int]:
        answer = await client.get("/api/v1/resources", params={"node_id": node_id, "limit": 500}, headers=staff)
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()["items"]]

    at_estate, at_community = await listed(estate), await listed(community)
    assert at_estate == [created.json()["id"]]
    assert created.json()["id"] in at_community and len(at_community) > 1  # the demo's resources too
    other = node_by_name("南虹村社区")[0]
    assert (await client.get("/api/v1/resources", params={"node_id": other}, headers=staff)).status_code == 404
