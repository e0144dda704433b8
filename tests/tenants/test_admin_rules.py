"""Who decides a tenant's status, who may lose the last administrator grant, who sees contact data, and
that a node's path is never handed out twice."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tenants.support import (
    WUHOU,
    CachedLogin,
    all_items,
    node_by_name,
    node_id,
    person,
    tenant_id,
)

PASSWORD = "admin-rules-2026"


async def _status(client: httpx.AsyncClient, slug: str, status: str, headers: dict[str, str]) -> httpx.Response:
    return await client.patch(f"/api/v1/tenants/{tenant_id(slug)}", json={"status": status}, headers=headers)


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


async def test_only_a_grant_above_a_tenant_changes_its_status(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    await person(db, "admin@yulin.demo", PASSWORD, [])
    street = await login("admin@yulin.demo", PASSWORD)
    district = await login("admin@wuhou.demo")

    # A street's own administrator (`*` at the street's node) neither suspends nor offboards it.
    _refused(await _status(client, "yulin", "suspended", street), 403, "status_change_from_above")
    offboard = await client.post(f"/api/v1/tenants/{tenant_id('yulin')}/offboard", headers=street)
    _refused(offboard, 403, "status_change_from_above")
    # Another district's administrator does not even see it.
    _refused(await _status(client, "yulin", "suspended", await login("admin@luohu.demo")), 404, "not_found")

    # Suspended by the district, the street can neither lift it nor touch its communities' status.
    assert (await _status(client, "yulin", "suspended", district)).status_code == 200
    _refused(await _status(client, "yulin", "active", street), 403, "status_change_from_above")
    _refused(await _status(client, "nanhong", "suspended", street), 403, "tenant_read_only")
    assert (await _status(client, "yulin", "active", district)).status_code == 200

    # What the district suspended, the street does not reactivate; what the street suspended, it may.
    assert (await _status(client, "nanhong", "suspended", district)).status_code == 200
    _refused(await _status(client, "nanhong", "active", street), 403, "suspended_from_above")
    assert (await _status(client, "nanhong", "active", district)).status_code == 200
    assert (await _status(client, "nanhong", "suspended", street)).status_code == 200
    reactivated = await _status(client, "nanhong", "active", street)
    assert reactivated.status_code == 200 and reactivated.json()["status"] == "active"


async def test_the_last_administrator_grant_cannot_be_revoked(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    admin = await login("admin@wuhou.demo")
    wuhou = node_id(WUHOU)
    nanhong, _ = node_by_name("南虹村社区")

    async def grants_at(node: int) -> list[dict[str, object]]:
        return [u for u in await all_items(client, "/api/v1/users", admin, node_id=node) if u["node_id"] == node]

    own = next(g for g in await grants_at(wuhou) if g["role"] == "district_admin")
    _refused(await client.delete(f"/api/v1/grants/{own['grant_id']}", headers=admin), 409, "last_administrator")
    community_admin = next(g for g in await grants_at(nanhong) if g["role"] == "community_admin")
    refused = await client.delete(f"/api/v1/grants/{community_admin['grant_id']}", headers=admin)
    _refused(refused, 409, "last_administrator")
    assert (await client.get("/api/v1/me", headers=admin)).json()["grants"]

    # With a second administrator either grant may go, but not both.
    second = await person(db, "second.admin@example.org", PASSWORD, [("district_admin", WUHOU)])
    theirs = next(g for g in await grants_at(wuhou) if g["user_id"] == second)
    assert (await client.delete(f"/api/v1/grants/{own['grant_id']}", headers=admin)).status_code == 204
    other = await login("second.admin@example.org", PASSWORD)
    _refused(await client.delete(f"/api/v1/grants/{theirs['grant_id']}", headers=other), 409, "last_administrator")
    # Other roles go as before.
    staff = next(g for g in await all_items(client, "/api/v1/users", other) if g["role"] == "community_staff")
    assert (await client.delete(f"/api/v1/grants/{staff['grant_id']}", headers=other)).status_code == 204


async def test_users_list_masks_contacts_for_roles_without_full_view(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    def resident(items: list[dict[str, object]]) -> dict[str, object]:
        return next(u for u in items if u["role"] == "resident" and str(u["phone"]).endswith("0001"))

    for account in ("grid@mumianling.demo", "property@yuefeng.demo", "auditor@wuhou.demo", "admin@luohu.demo"):
        items = await all_items(client, "/api/v1/users", await login(account))
        if account == "auditor@wuhou.demo":
            assert items and all(u["masked"] for u in items)
            assert all(u["email"] is None or "***@" in str(u["email"]) for u in items)
            continue
        seen = resident(items)
        if account == "admin@luohu.demo":
            assert seen["phone"] == "13800000001" and seen["masked"] is False
        else:
            assert seen["phone"] == "138****0001" and seen["masked"] is True, account
            property_manager = next(u for u in items if u["role"] == "property_manager")
            assert property_manager["email"] == "p***@yuefeng.demo"
    staff = await all_items(client, "/api/v1/users", await login("staff@mumianling.demo"))
    assert resident(staff)["phone"] == "13800000001"


async def test_a_moved_nodes_old_path_is_never_handed_out_again(client: httpx.AsyncClient, login: CachedLogin) -> None:
    admin = await login("admin@wuhou.demo")
    yulin, _ = node_by_name("玉林街道")
    elsewhere = node_id(f"{WUHOU}.s001")
    first = await client.post("/api/v1/nodes", json={"parent_id": yulin, "name": "搬走的社区"}, headers=admin)
    assert first.status_code == 201, first.text
    old_path = first.json()["node_path"]
    move = {"new_parent_id": elsewhere}
    moved = await client.post(f"/api/v1/nodes/{first.json()['id']}/move", json=move, headers=admin)
    assert moved.status_code == 200 and moved.json()["node_path"] != old_path
    # With its own code: otherwise the old label would also repeat the moved node's code (409 instead).
    body = {"parent_id": yulin, "name": "新来的社区", "code": "NEW-AFTER-MOVE"}
    second = await client.post("/api/v1/nodes", json=body, headers=admin)
    assert second.status_code == 201, second.text
    assert second.json()["node_path"] != old_path
    assert second.json()["node_path"].rsplit(".", 1)[0] == old_path.rsplit(".", 1)[0]
