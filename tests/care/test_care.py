from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import text

from linli.care import service
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.masking import mask_name
from tests.conftest import Login
from tests.iot.conftest import Devices, unique

STAFF = "staff@mumianling.demo"
GRID = "grid@mumianling.demo"
NAME = "欧阳秀兰"
MASKED = mask_name(NAME)


async def cared_for(live: httpx.AsyncClient, headers: dict[str, str], estate_id: int, category: str) -> dict[str, Any]:
    body = {
        "household": {"node_id": estate_id, "room": unique("r")[:12]},
        "name": NAME,
        "care_categories": [category],
    }
    r = await live.post("/api/v1/residents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    person: dict[str, Any] = r.json()
    return person


async def watched_by(
    live: httpx.AsyncClient, devices: Devices, headers: dict[str, str], estate_id: int, type_code: str, role: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A person of the category elderly_alone (24 h) with one linked sensor: (person, device)."""
    person = await cared_for(live, headers, estate_id, "elderly_alone")
    device = await devices.register(type_code, estate_id, building="2栋", unit="1单元", space="302")
    r = await live.post(
        f"/api/v1/care/people/{person['id']}/sensors", json={"device_id": device["id"], "role": role}, headers=headers
    )
    assert r.status_code == 201, r.text
    return person, device


async def sweep(at: datetime) -> tuple[int, int]:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.sweep_not_seen(session, at=at)


async def care_of(live: httpx.AsyncClient, headers: dict[str, str], person_id: int) -> dict[str, Any]:
    r = await live.get(f"/api/v1/care/people/{person_id}", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_a_quiet_door_raises_one_not_seen_for_the_grid_worker_and_a_reading_clears_it(
    live: httpx.AsyncClient, live_login: Login, devices: Devices, estate: dict[str, Any]
) -> None:
    staff, grid = await live_login(STAFF), await live_login(GRID)
    person, door = await watched_by(live, devices, staff, estate["id"], "door_sensor", "door")
    later = datetime.now(UTC) + timedelta(hours=25)  # beyond elderly_alone's 24 h
    await sweep(later)
    await sweep(later + timedelta(minutes=5))  # a second sweep raises nothing more
    care = await care_of(live, grid, person["id"])
    assert care["person"]["masked"] is True and care["person"]["name"] == MASKED
    assert care["profile"]["effective_hours"] == 24
    [alert] = care["alerts"]
    assert alert["cleared_at"] is None and alert["event_id"]
    events = await live.get("/api/v1/events", params={"item": "sa_care_not_seen", "limit": 200}, headers=grid)
    assert events.status_code == 200, events.text
    mine = [e for e in events.json()["items"] if e["external_ref"] == f"care-alert:{alert['id']}"]
    assert len(mine) == 1
    assert MASKED in mine[0]["description"] and NAME not in mine[0]["description"]
    assert mine[0]["handler"]["kind"] == "grid_worker"
    # The door opens: the next sweep clears the alert.
    token = {"X-Device-Token": door["credentials"]["token"]}
    reading = {"ts": datetime.now(UTC).isoformat(), "metrics": {"opened": 1}}
    assert (await live.post("/api/v1/ingest", json=reading, headers=token)).status_code == 202
    await sweep(datetime.now(UTC) + timedelta(minutes=1))
    [alert] = (await care_of(live, grid, person["id"]))["alerts"]
    assert alert["cleared_at"] is not None


async def test_an_away_period_and_quiet_hours_hold_the_alert_back(
    live: httpx.AsyncClient, live_login: Login, devices: Devices, estate: dict[str, Any]
) -> None:
    staff = await live_login(STAFF)
    person, _ = await watched_by(live, devices, staff, estate["id"], "smart_water_meter", "water")
    now = datetime.now(UTC)
    away = {"reason": "hospital", "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=3)).isoformat()}
    r = await live.post(f"/api/v1/care/people/{person['id']}/away", json=away, headers=staff)
    assert r.status_code == 201, r.text
    await sweep(now + timedelta(hours=30))
    assert (await care_of(live, staff, person["id"]))["alerts"] == []
    # Back from hospital: the window starts again at the end of the stay, and the whole day is quiet hours.
    profile = {"not_seen_hours": 2, "quiet_start": "00:00", "quiet_end": "23:59:59"}
    r = await live.put(f"/api/v1/care/people/{person['id']}/profile", json=profile, headers=staff)
    assert r.status_code == 200 and r.json()["profile"]["effective_hours"] == 2
    await sweep(now + timedelta(days=3, hours=3))
    assert (await care_of(live, staff, person["id"]))["alerts"] == []
    profile = {"not_seen_hours": 2}
    r = await live.put(f"/api/v1/care/people/{person['id']}/profile", json=profile, headers=staff)
    assert r.status_code == 200, r.text
    await sweep(now + timedelta(days=3, hours=1))  # an hour after the stay: within the 2 h
    assert (await care_of(live, staff, person["id"]))["alerts"] == []
    await sweep(now + timedelta(days=3, hours=3))
    assert len((await care_of(live, staff, person["id"]))["alerts"]) == 1


async def test_an_sos_press_names_the_person(
    live: httpx.AsyncClient, live_login: Login, devices: Devices, estate: dict[str, Any]
) -> None:
    staff = await live_login(STAFF)
    _, band = await watched_by(live, devices, staff, estate["id"], "sos_band", "sos")
    token = {"X-Device-Token": band["credentials"]["token"]}
    reading = {"ts": datetime.now(UTC).isoformat(), "metrics": {"sos": 1}}
    assert (await live.post("/api/v1/ingest", json=reading, headers=token)).status_code == 202
    events = await live.get("/api/v1/events", params={"item": "sa_care_sos", "limit": 200}, headers=staff)
    alarms = await live.get("/api/v1/alarms", params={"device_id": band["id"]}, headers=staff)
    [alarm] = alarms.json()["items"]
    [event] = [e for e in events.json()["items"] if e["external_ref"] == f"alarm:{alarm['id']}"]
    assert event["severity"] == "critical"
    assert f"关爱对象 {MASKED} 紧急求助" in event["description"]


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "green").save(out, format="JPEG")
    return out.getvalue()


async def test_visits_come_on_schedule_are_done_with_a_photo_and_escalate_once_when_overdue(
    live: httpx.AsyncClient, live_login: Login, estate: dict[str, Any]
) -> None:
    staff, grid = await live_login(STAFF), await live_login(GRID)
    person = await cared_for(live, staff, estate["id"], "elderly_alone")  # a visit every 7 days
    now = datetime.now(UTC)
    async with scoped_session(SYSTEM_SCOPE) as session:
        await service.schedule_visits(session, at=now)
        await service.schedule_visits(session, at=now)  # one open visit per person
    params = {"person_id": person["id"]}
    [visit] = (await live.get("/api/v1/care/visits", params=params, headers=grid)).json()["items"]
    assert visit["status"] == "open" and visit["due_on"] == service.local_today(now).isoformat()
    assert visit["person_name"] == MASKED
    # Two days late: escalated to the community's staff, once.
    async with scoped_session(SYSTEM_SCOPE) as session:
        assert await service.escalate_overdue_visits(session, at=now + timedelta(days=2)) >= 1
        await service.escalate_overdue_visits(session, at=now + timedelta(days=3))
    [visit] = (await live.get("/api/v1/care/visits", params=params, headers=grid)).json()["items"]
    assert visit["escalated_at"] is not None
    async with scoped_session(SYSTEM_SCOPE) as session:
        told = await session.execute(
            text(
                "select count(*), count(distinct recipient_id) from notifications "
                "where kind = 'care_visit_overdue' and (payload->>'visit_id')::bigint = :v"
            ),
            {"v": visit["id"]},
        )
        total, recipients = told.one()
    assert total == recipients >= 1  # each of the community's staff once
    inbox = (await live.get("/api/v1/notifications", params={"limit": 200}, headers=staff)).json()["items"]
    assert any(n["kind"] == "care_visit_overdue" for n in inbox)
    # The grid worker visits: note, photo, time.
    r = await live.post(
        f"/api/v1/care/visits/{visit['id']}/complete",
        data={"note": "精神很好，血压正常"},
        files={"photo": ("visit.jpg", photo(), "image/jpeg")},
        headers=grid,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done" and r.json()["has_photo"] is True
    shot = await live.get(f"/api/v1/care/visits/{visit['id']}/photo", headers=grid)
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/jpeg"
    again_done = await live.post(
        f"/api/v1/care/visits/{visit['id']}/complete",
        data={"note": "x"},
        files={"photo": ("visit.jpg", photo(), "image/jpeg")},
        headers=grid,
    )
    assert again_done.status_code == 409
    # The next visit is due 7 days after this one.
    async with scoped_session(SYSTEM_SCOPE) as session:
        await service.schedule_visits(session, at=now)
    [following] = (await live.get("/api/v1/care/visits", params=params | {"status": "open"}, headers=grid)).json()[
        "items"
    ]
    assert following["due_on"] == (service.local_today(now) + timedelta(days=7)).isoformat()
    overview = await live.get("/api/v1/care/overview", params={"node_id": estate["id"]}, headers=staff)
    assert overview.status_code == 200, overview.text
    numbers = overview.json()
    assert numbers["people"] >= 1 and numbers["visits_done"] >= 1
    assert any(c["category"] == "elderly_alone" for c in numbers["categories"])


async def test_the_demo_watches_its_cared_for_persons_at_yuefeng_through_demo_sensors() -> None:
    async with scoped_session(SYSTEM_SCOPE) as session:
        rows = await session.execute(
            text(
                "select distinct s.role from care_sensors s join nodes n on n.node_path = s.node_path "
                "join people p on p.id = s.person_id where n.name = '悦峰尚府' and p.name = '陈国栋'"
            )
        )
        assert {r[0] for r in rows} == {"door", "water", "sos"}
