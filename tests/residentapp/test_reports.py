"""Reports from the app (随手拍): items residents may raise, the home as the default place, photos without
their metadata, the reporter's view of the timeline, ratings, the inbox; switched-off services refused."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.storage import get_storage
from tests.conftest import Login
from tests.photos import has_gps, jpeg_with_gps
from tests.residentapp.conftest import NANHONG_RESIDENT, RESIDENT
from tests.tenants.support import node_by_name, system_scope, tenant_id

APP = "/api/v1/app/mumianling"


async def report(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> httpx.Response:
    return await client.post(f"{APP}/reports", json=body, headers=headers)


async def test_residents_choose_only_the_items_they_may_raise(client: httpx.AsyncClient, login: Login) -> None:
    headers = await login(RESIDENT)
    lines = (await client.get(f"{APP}/report-items", headers=headers)).json()["items"]
    codes = {i["code"] for line in lines for i in line["items"]}
    assert "ph_public_facility" in codes and "ca_garbage_overflow" in codes
    assert "sf_smoke_alarm" not in codes and "ps_hotline_transfer" not in codes
    refused = await report(client, headers, item="sf_smoke_alarm", description="烟感响了")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "item_not_allowed_for_source"
    both = await report(client, headers, item="ph_public_facility", service="prop_facility")
    assert both.status_code == 422
    hotline = await report(client, headers, service="gov_hotline")
    assert hotline.json()["error"]["code"] == "item_not_allowed_for_source"


async def test_a_report_from_home_with_a_photo_is_resolved_rated_and_counted(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login("staff@mumianling.demo")
    created = await report(client, resident, service="prop_facility", description="3楼走廊灯坏了")
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["item"] == "ph_public_facility" and event["status"] == "dispatched"
    assert event["deadlines"]["accept_minutes"] == 120 and event["deadlines"]["resolve_by"] is not None
    # The place defaults to the resident's home (悦峰尚府, the household's building, unit and room).
    assert event["place"] and event["can_cancel"] and not event["can_rate"]
    url = f"{APP}/reports/{event['id']}"

    original = jpeg_with_gps()
    assert has_gps(original)
    photo = await client.post(f"{url}/photos", files={"file": ("p.jpg", original, "image/jpeg")}, headers=resident)
    assert photo.status_code == 201, photo.text
    stored = await client.get(f"{url}/photos/{photo.json()['id']}", headers=resident)
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
    assert not has_gps(stored.content) and stored.content != original

    events = f"/api/v1/events/{event['id']}"
    for action in ("accept", "start"):
        assert (await client.post(f"{events}/transitions", json={"action": action}, headers=staff)).status_code == 200
    note = await client.post(f"{events}/transitions", json={"action": "comment", "note": "内部：找电工"}, headers=staff)
    assert note.status_code == 200
    after = jpeg_with_gps("green")
    evidence = await client.post(f"{events}/attachments", files={"file": ("a.jpg", after, "image/jpeg")}, headers=staff)
    resolved = await client.post(
        f"{events}/transitions",
        json={"action": "resolve", "note": "已更换灯泡", "attachments": [evidence.json()["id"]]},
        headers=staff,
    )
    assert resolved.status_code == 200, resolved.text

    detail = (await client.get(url, headers=resident)).json()
    assert detail["status"] == "resolved" and detail["can_rate"]
    assert {p["by"] for p in detail["photos"]} == {"me", "handler"}
    steps = [s["action"] for s in detail["timeline"]]
    assert "resolve" in steps and "comment" not in steps and "内部：找电工" not in str(detail)
    handler_photo = next(p for p in detail["photos"] if p["by"] == "handler")
    assert (await client.get(f"{url}/photos/{handler_photo['id']}", headers=resident)).status_code == 200
    inbox = (await client.get(f"{APP}/notifications", headers=resident)).json()["items"]
    assert any(n["event_id"] == event["id"] for n in inbox)
    read = await client.post(f"{APP}/notifications/{inbox[0]['id']}/read", headers=resident)
    assert read.status_code == 200 and read.json()["read_at"] is not None

    rated = await client.post(f"{url}/rating", json={"score": 5, "comment": "很快"}, headers=resident)
    assert rated.status_code == 201, rated.text
    assert rated.json()["status"] == "closed" and rated.json()["rating"]["score"] == 5
    again = await client.post(f"{url}/rating", json={"score": 4}, headers=resident)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    community, _ = node_by_name("木棉岭社区")
    kpis = (await client.get("/api/v1/events/kpis", params={"node_id": community}, headers=staff)).json()
    assert kpis["ratings"] >= 1 and kpis["avg_rating"] is not None
    mine = (await client.get(f"{APP}/reports", params={"state": "done"}, headers=resident)).json()["items"]
    assert any(r["id"] == event["id"] and r["rated"] for r in mine)


async def test_a_low_score_reopens_the_report(client: httpx.AsyncClient, login: Login) -> None:
    resident, staff = await login(RESIDENT), await login("staff@mumianling.demo")
    event = (await report(client, resident, item="ph_power_outage", description="楼道停电")).json()
    events = f"/api/v1/events/{event['id']}"
    for action in ("accept", "resolve"):
        assert (await client.post(f"{events}/transitions", json={"action": action}, headers=staff)).status_code == 200
    rated = await client.post(
        f"{APP}/reports/{event['id']}/rating", json={"score": 1, "reopen": True}, headers=resident
    )
    assert rated.status_code == 201 and rated.json()["status"] == "dispatched"


async def test_photos_are_at_most_nine_and_must_be_photos(client: httpx.AsyncClient, login: Login) -> None:
    resident = await login(RESIDENT)
    event = (await report(client, resident, item="ca_garbage_overflow")).json()
    url = f"{APP}/reports/{event['id']}/photos"
    for n in range(9):
        sent = await client.post(url, files={"file": (f"{n}.jpg", jpeg_with_gps(), "image/jpeg")}, headers=resident)
        assert sent.status_code == 201, (n, sent.text)
    tenth = await client.post(url, files={"file": ("x.jpg", jpeg_with_gps(), "image/jpeg")}, headers=resident)
    assert tenth.status_code == 409 and tenth.json()["error"]["code"] == "too_many_photos"
    other = (await report(client, resident, item="ph_elevator_fault")).json()
    fake = await client.post(
        f"{APP}/reports/{other['id']}/photos",
        files={"file": ("x.jpg", b"\xff\xd8\xff not a jpeg", "image/jpeg")},
        headers=resident,
    )
    assert fake.status_code == 415 and fake.json()["error"]["code"] == "unsupported_image"
    assert get_storage() is not None


async def test_a_phone_sized_photo_is_an_upload_not_a_json_body(client: httpx.AsyncClient, login: Login) -> None:
    import io
    import os

    from PIL import Image

    resident = await login(RESIDENT)
    event = (await report(client, resident, item="ca_garbage_overflow")).json()
    noise = Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=95)
    assert len(out.getvalue()) > 256 * 1024  # more than a JSON body may have
    sent = await client.post(
        f"{APP}/reports/{event['id']}/photos",
        files={"file": ("big.jpg", out.getvalue(), "image/jpeg")},
        headers=resident,
    )
    assert sent.status_code == 201, sent.text
    anonymous = await client.post(f"{APP}/reports/{event['id']}/photos", files={"file": ("x.jpg", b"x", "image/jpeg")})
    assert anonymous.status_code == 401


async def test_switched_off_services_are_refused(client: httpx.AsyncClient, login: Login) -> None:
    resident, staff = await login(RESIDENT), await login("staff@mumianling.demo")
    tid = tenant_id("mumianling")
    for code in ("prop_facility", "com_report_issue"):
        off = await client.patch(f"/api/v1/tenants/{tid}/services/{code}", json={"enabled": False}, headers=staff)
        assert off.status_code == 200
    by_service = await report(client, resident, service="prop_facility")
    assert by_service.status_code == 404 and by_service.json()["error"]["code"] == "service_disabled"
    free = await report(client, resident, item="ca_garbage_overflow")
    assert free.status_code == 404 and free.json()["error"]["code"] == "service_disabled"
    home = (await client.get(f"{APP}/home", headers=resident)).json()
    codes = {s["code"] for section in home["app"]["sections"] for s in section["services"]}
    assert "prop_facility" not in codes and "prop_repair" in codes
    wrong = await report(client, resident, service="prop_notice")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "wrong_service_kind"


async def test_reports_stay_with_their_reporter_and_tenant(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, neighbour = await login(RESIDENT), await login(NANHONG_RESIDENT)
    event = (await report(client, resident, item="ca_illegal_parking", place={"address": "东门"})).json()
    for url in (f"{APP}/reports/{event['id']}", f"/api/v1/app/nanhong/reports/{event['id']}", f"{APP}/home"):
        assert (await client.get(url, headers=neighbour)).status_code == 404, url
    # Elsewhere in the estate: a building instead of the home; only buildings and units the caller may see.
    async with system_scope(db):
        from sqlalchemy import text

        yuefeng, _ = node_by_name("悦峰尚府")
        nanhong_estate, _ = node_by_name("林荫街9号院")
        here = (
            await db.execute(text("select id from locations where node_id = :n order by id limit 1"), {"n": yuefeng})
        ).scalar_one()
        there = (
            await db.execute(
                text("select id from locations where node_id = :n order by id limit 1"), {"n": nanhong_estate}
            )
        ).scalar_one()
    at_building = await report(client, resident, item="ph_water_leak", place={"location_id": here, "floor": "B1"})
    assert at_building.status_code == 201 and "B1" in at_building.json()["place"]
    elsewhere = await report(client, resident, item="ph_water_leak", place={"location_id": there})
    assert elsewhere.status_code == 404
    # Staff have no home here: they name the place.
    staff = await login("staff@mumianling.demo")
    homeless = await report(client, staff, item="ph_water_leak")
    assert homeless.status_code == 409 and homeless.json()["error"]["code"] == "no_household"
    cancelled = await client.post(f"{APP}/reports/{event['id']}/cancel", json={"note": "已挪走"}, headers=resident)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
