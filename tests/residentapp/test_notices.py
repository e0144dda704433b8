"""Notices: staff write, target, pin, publish and withdraw; residents under the target read them (with
receipts); Markdown is rendered sanitized on the server; staff see read counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import Login
from tests.photos import has_gps, jpeg_with_gps
from tests.residentapp.conftest import NANHONG_RESIDENT, RESIDENT
from tests.tenants.support import node_by_name

APP = "/api/v1/app/mumianling"
BODY = (
    "# 停水\n\n明天 **9点** 停水 <script>alert(1)</script> [链接](javascript:alert(1)) ![x](https://evil.example/p.gif)"
)


async def test_a_notice_to_an_estate_reaches_its_residents_only(client: httpx.AsyncClient, login: Login) -> None:
    staff, resident = await login("staff@mumianling.demo"), await login(RESIDENT)
    yuefeng, _ = node_by_name("悦峰尚府")
    created = await client.post(
        "/api/v1/notices",
        json={"node_id": yuefeng, "service": "prop_notice", "title": "停水通知", "body": BODY, "pinned": True},
        headers=staff,
    )
    assert created.status_code == 201, created.text
    notice = created.json()
    html = notice["body_html"]
    assert notice["status"] == "draft" and "<strong>9点</strong>" in html and "<h1>停水</h1>" in html
    assert "<script" not in html and 'href="javascript' not in html and "evil.example" not in html
    # A draft is nobody's news yet.
    listed = (await client.get(f"{APP}/notices", headers=resident)).json()["items"]
    assert notice["id"] not in {n["id"] for n in listed}

    image = await client.post(
        f"/api/v1/notices/{notice['id']}/images",
        files={"file": ("w.jpg", jpeg_with_gps(), "image/jpeg")},
        headers=staff,
    )
    assert image.status_code == 201, image.text
    patched = await client.patch(
        f"/api/v1/notices/{notice['id']}", json={"body": f"请储水 {image.json()['markdown']}"}, headers=staff
    )
    assert f'src="{image.json()["url"]}"' in patched.json()["body_html"]
    assert (await client.get(image.json()["url"])).status_code == 404  # not published yet
    published = await client.post(f"/api/v1/notices/{notice['id']}/publish", headers=staff)
    assert published.status_code == 200 and published.json()["status"] == "published"
    picture = await client.get(image.json()["url"])  # as <img> loads it: without credentials
    assert picture.status_code == 200 and not has_gps(picture.content)

    home = (await client.get(f"{APP}/home", headers=resident)).json()
    assert notice["id"] in {n["id"] for n in home["pinned_notices"]}
    read = (await client.get(f"{APP}/notices/{notice['id']}", headers=resident)).json()
    assert read["read"] is False and read["images"][0]["id"] == image.json()["id"]
    receipt = await client.post(f"{APP}/notices/{notice['id']}/read", headers=resident)
    assert receipt.status_code == 200
    again = await client.post(f"{APP}/notices/{notice['id']}/read", headers=resident)
    assert again.json()["read_at"] == receipt.json()["read_at"]
    assert (await client.get(f"/api/v1/notices/{notice['id']}", headers=staff)).json()["read_count"] == 1

    # 南虹村社区's resident neither sees it nor gets it by id; their staff neither.
    neighbour = await login(NANHONG_RESIDENT)
    assert notice["id"] not in {
        n["id"] for n in (await client.get("/api/v1/app/nanhong/notices", headers=neighbour)).json()["items"]
    }
    assert (await client.get(f"/api/v1/app/nanhong/notices/{notice['id']}", headers=neighbour)).status_code == 404
    assert (
        await client.get(f"/api/v1/notices/{notice['id']}", headers=await login("staff@nanhong.demo"))
    ).status_code == 404

    withdrawn = await client.post(f"/api/v1/notices/{notice['id']}/withdraw", headers=staff)
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await client.get(f"{APP}/notices/{notice['id']}", headers=resident)).status_code == 404
    audit = await client.get("/api/v1/audit", params={"object_type": "notice"}, headers=await login("admin@luohu.demo"))
    assert {"notice.create", "notice.update", "notice.publish", "notice.withdraw"} <= {
        e["action"] for e in audit.json()["items"]
    }


async def test_the_publish_window_and_the_target_subtree(client: httpx.AsyncClient, login: Login) -> None:
    staff, resident = await login("staff@mumianling.demo"), await login(RESIDENT)
    community, _ = node_by_name("木棉岭社区")
    other_estate = (await client.get("/api/v1/nodes", params={"level": "estate", "limit": 500}, headers=staff)).json()
    sibling = next(n for n in other_estate["items"] if n["name"] != "悦峰尚府")
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ids = {}
    for name, body in (
        ("community", {"node_id": community, "title": "全体居民"}),
        ("later", {"node_id": community, "title": "明天才显示", "publish_from": soon}),
        ("sibling", {"node_id": sibling["id"], "title": "别的小区"}),
    ):
        created = await client.post("/api/v1/notices", json=body, headers=staff)
        ids[name] = created.json()["id"]
        assert (await client.post(f"/api/v1/notices/{ids[name]}/publish", headers=staff)).status_code == 200
    shown = {n["id"] for n in (await client.get(f"{APP}/notices", headers=resident)).json()["items"]}
    assert ids["community"] in shown and ids["later"] not in shown and ids["sibling"] not in shown
    staff_list = (await client.get("/api/v1/notices", params={"status": "published"}, headers=staff)).json()["items"]
    assert {ids["community"], ids["later"], ids["sibling"]} <= {n["id"] for n in staff_list}
    backwards = await client.post(
        "/api/v1/notices",
        json={"node_id": community, "title": "x", "publish_from": soon, "publish_until": datetime.now(UTC).isoformat()},
        headers=staff,
    )
    assert backwards.status_code == 400 and backwards.json()["error"]["code"] == "bad_range"
    not_info = await client.post(
        "/api/v1/notices", json={"node_id": community, "title": "x", "service": "prop_repair"}, headers=staff
    )
    assert not_info.status_code == 409 and not_info.json()["error"]["code"] == "wrong_service_kind"
    # Residents and auditors read; they do not write.
    for account in (RESIDENT, "auditor@wuhou.demo"):
        refused = await client.post(
            "/api/v1/notices", json={"node_id": community, "title": "x"}, headers=await login(account)
        )
        assert refused.status_code in (403, 404)
