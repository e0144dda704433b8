from __future__ import annotations

import httpx

from tests.conftest import Login


async def all_nodes(client: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {"limit": 500, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/nodes", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_each_demo_account_sees_exactly_its_subtree(client: httpx.AsyncClient, login: Login) -> None:
    expectations = {
        "admin@wuhou.demo": "d510107",
        "staff@mumianling.demo": "d440303.s005.c001",
        "grid@mumianling.demo": "d440303.s005.c001.g01",
    }
    for account, root in expectations.items():
        nodes = await all_nodes(client, await login(account))
        assert nodes, account
        assert all(n["node_path"] == root or str(n["node_path"]).startswith(root + ".") for n in nodes), account
    wuhou = await all_nodes(client, await login("admin@wuhou.demo"), level="community")
    assert len(wuhou) == 72


async def test_wrong_password_is_401_with_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/token", data={"username": "admin@wuhou.demo", "password": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


async def test_luohu_admin_gets_404_for_a_wuhou_node(client: httpx.AsyncClient, login: Login) -> None:
    wuhou = await all_nodes(client, await login("admin@wuhou.demo"), level="district")
    response = await client.get(f"/api/v1/nodes/{wuhou[0]['id']}", headers=await login("admin@luohu.demo"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
