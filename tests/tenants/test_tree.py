"""The node tree: search within the caller's subtree, create, rename, move (every path rewritten in one
transaction), archive."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tenants.support import LUOHU, WUHOU, CachedLogin, all_items, node_by_name, node_id, system_scope, within


async def test_search_by_name_code_level_and_parent(client: httpx.AsyncClient, login: CachedLogin) -> None:
    admin = await login("admin@wuhou.demo")
    by_name = await all_items(client, "/api/v1/nodes", admin, q="南虹", level="community")
    assert [n["name"] for n in by_name] == ["南虹村社区"]
    everything = await all_items(client, "/api/v1/nodes", admin, q="南虹")
    assert len(everything) > 1 and all("南虹" in n["name"] for n in everything)
    community, _ = node_by_name("南虹村社区")
    by_code = await all_items(client, "/api/v1/nodes", admin, q=by_name[0]["code"])
    assert by_name[0]["id"] in {n["id"] for n in by_code}
    streets = await all_items(client, "/api/v1/nodes", admin, level="street")
    assert len(streets) == 11 and all(n["level"] == "street" for n in streets)
    children = await all_items(client, "/api/v1/nodes", admin, parent_id=community)
    assert children and all(n["parent_id"] == community and n["level"] == "grid" for n in children)
    # Someone else's subtree is not searched: Luohu finds no 南虹.
    assert await all_items(client, "/api/v1/nodes", await login("admin@luohu.demo"), q="南虹") == []
    # Cursor pagination walks everything exactly once.
    paged = await all_items(client, "/api/v1/nodes", admin, limit=7, level="community")
    assert len(paged) == len({n["id"] for n in paged}) == 72
    bad = await client.get("/api/v1/nodes", params={"level": "planet"}, headers=admin)
    assert bad.status_code == 422


async def test_create_rename_and_archive(client: httpx.AsyncClient, login: CachedLogin) -> None:
    admin = await login("admin@wuhou.demo")
    community, path = node_by_name("南虹村社区")
    created = await client.post("/api/v1/nodes", json={"parent_id": community, "name": "第九网格"}, headers=admin)
    assert created.status_code == 201, created.text
    grid = created.json()
    assert grid["level"] == "grid" and grid["node_path"].startswith(path + ".g")
    estate = await client.post("/api/v1/nodes", json={"parent_id": grid["id"], "name": "新小区"}, headers=admin)
    assert estate.status_code == 201 and estate.json()["level"] == "estate"
    below_estate = await client.post(
        "/api/v1/nodes", json={"parent_id": estate.json()["id"], "name": "x"}, headers=admin
    )
    assert below_estate.status_code == 400 and below_estate.json()["error"]["code"] == "no_child_level"
    renamed = await client.patch(f"/api/v1/nodes/{grid['id']}", json={"name": "第九网格（新）"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "第九网格（新）"
    archived = await client.post(f"/api/v1/nodes/{grid['id']}/archive", headers=admin)
    assert archived.status_code == 200 and archived.json()["archived_at"]
    listed = {n["id"] for n in await all_items(client, "/api/v1/nodes", admin, parent_id=community)}
    assert grid["id"] not in listed
    with_archived = await all_items(client, "/api/v1/nodes", admin, parent_id=community, include_archived=True)
    assert grid["id"] in {n["id"] for n in with_archived}


async def test_a_code_taken_in_another_district_is_409_not_500(client: httpx.AsyncClient, login: CachedLogin) -> None:
    """Luohu cannot see Wuhou's node codes (RLS), but the unique index can."""
    wuhou_code = (await client.get(f"/api/v1/nodes/{node_id(WUHOU)}", headers=await login("admin@wuhou.demo"))).json()[
        "code"
    ]
    response = await client.post(
        "/api/v1/nodes",
        json={"parent_id": node_id(LUOHU), "name": "撞码街道", "code": wuhou_code},
        headers=await login("admin@luohu.demo"),
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "node_code_taken"


async def test_moving_a_community_rewrites_every_path_below_it(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    admin = await login("admin@wuhou.demo")
    community, old = node_by_name("南虹村社区")
    target = node_id(f"{WUHOU}.s001")

    async def counts(prefix: str) -> dict[str, int]:
        out = {}
        async with system_scope(db):
            for table in ("nodes", "locations", "role_grants", "tenants"):
                row = await db.execute(
                    text(f"select count(*) from {table} where node_path <@ text2ltree(:p)"), {"p": prefix}
                )
                out[table] = int(row.scalar_one())
        return out

    before = await counts(old)
    assert all(before.values()), before
    moved = await client.post(f"/api/v1/nodes/{community}/move", json={"new_parent_id": target}, headers=admin)
    assert moved.status_code == 200, moved.text
    new = moved.json()["node_path"]
    assert new.startswith(f"{WUHOU}.s001.c") and moved.json()["parent_id"] == target
    assert await counts(new) == before
    assert await counts(old) == {k: 0 for k in before}
    # The community's staff keep their grant (rewritten) and see their community at its new place.
    staff = await login("staff@nanhong.demo")
    nodes = await all_items(client, "/api/v1/nodes", staff)
    assert nodes and all(within(n["node_path"], new) for n in nodes)
    # A community must move under a street, and never below itself.
    grid = (await all_items(client, "/api/v1/nodes", admin, parent_id=community))[0]["id"]
    wrong = await client.post(f"/api/v1/nodes/{community}/move", json={"new_parent_id": grid}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_parent_level"
    # Not into another district.
    luohu_street = node_id(f"{LUOHU}.s001")
    away = await client.post(f"/api/v1/nodes/{community}/move", json={"new_parent_id": luohu_street}, headers=admin)
    assert away.status_code == 404


async def test_an_estates_buildings_and_units_are_listed_inside_the_callers_scope(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    estate, _ = node_by_name("悦峰尚府")
    places = await client.get(f"/api/v1/nodes/{estate}/locations", headers=await login("grid@mumianling.demo"))
    assert places.status_code == 200, places.text
    items = places.json()["items"]
    buildings = {p["id"]: p for p in items if p["kind"] == "building"}
    units = [p for p in items if p["kind"] == "unit"]
    assert buildings and units and all(u["parent_id"] in buildings for u in units)
    community, _ = node_by_name("木棉岭社区")
    above = await client.get(f"/api/v1/nodes/{community}/locations", headers=await login("staff@mumianling.demo"))
    assert above.status_code == 200 and above.json()["items"] == []
    foreign = await client.get(f"/api/v1/nodes/{estate}/locations", headers=await login("staff@nanhong.demo"))
    assert foreign.status_code == 404
