"""The tenant list's counts: people holding a role, devices and open events under each tenant's node,
as many as the caller may see."""

from __future__ import annotations

import httpx

from tests.tenants.support import CachedLogin, scalar


def expected_counts(slug: str) -> dict[str, int]:
    path = str(scalar("select node_path::text from tenants where slug = %s", slug))
    return {
        "users": int(scalar("select count(distinct user_id) from role_grants where node_path <@ %s::ltree", path)),
        "devices": int(
            scalar("select count(*) from devices where node_path <@ %s::ltree and revoked_at is null", path)
        ),
        "open_events": int(
            scalar(
                "select count(*) from events where node_path <@ %s::ltree"
                " and status in ('new', 'dispatched', 'accepted', 'in_progress')",
                path,
            )
        ),
    }


async def test_the_list_and_a_tenant_count_users_devices_and_open_events(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    headers = await login("admin@wuhou.demo")
    listed = (await client.get("/api/v1/tenants", headers=headers)).json()["items"]
    by_slug = {t["slug"]: t["counts"] for t in listed}
    assert {"yulin", "nanhong"} <= set(by_slug)  # and any a console test onboarded
    for slug in ("yulin", "nanhong"):
        assert by_slug[slug] == expected_counts(slug), slug
    assert by_slug["nanhong"]["users"] >= 2  # its administrator and staff@nanhong.demo
    one = (await client.get(f"/api/v1/tenants/{listed[0]['id']}", headers=headers)).json()
    assert one["counts"] == listed[0]["counts"]


async def test_a_community_sees_only_its_own_counts(client: httpx.AsyncClient, login: CachedLogin) -> None:
    listed = (await client.get("/api/v1/tenants", headers=await login("staff@nanhong.demo"))).json()["items"]
    assert [(t["slug"], t["counts"]) for t in listed] == [("nanhong", expected_counts("nanhong"))]


async def test_the_demo_devices_are_counted(client: httpx.AsyncClient, login: CachedLogin) -> None:
    listed = (await client.get("/api/v1/tenants", headers=await login("admin@luohu.demo"))).json()["items"]
    mumianling = next(t["counts"] for t in listed if t["slug"] == "mumianling")
    assert mumianling == expected_counts("mumianling") and mumianling["devices"] > 0
