"""What the events domain must refuse: Open311 showing residents' reports to anyone, sources claimed by
whoever asks, external references pre-empted, evidence uploaded without a relation or into a read-only
tenant, and an API-key lookup that hands out hashes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import intake
from linli.iot.service import AlarmOpened
from linli.platform.access import Principal, load_user_principal
from linli.platform.errors import Forbidden
from linli.platform.security import sha256_hex
from tests.conftest import Login
from tests.events.conftest import PNG, Places, system
from tests.events.test_governance_loop import report
from tests.events.test_intake_and_delivery import integration_key
from tests.tenants.support import tenant_id

RESIDENT = "13800000001"
STAFF = "staff@mumianling.demo"
ADMIN = "admin@luohu.demo"


async def open311(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/open311/v2/mumianling/requests.json", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_anonymous_open311_shows_no_description_or_place_of_a_resident_report(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    secret = f"我家漏水 电话13800000001 {uuid.uuid4().hex[:6]}"
    body = {
        "item": "ph_repair_request",
        "description": secret,
        "node_id": places.yuefeng,
        "location": {"building": "3栋", "unit": "2单元", "room": "1201", "lat": 22.5481, "lon": 114.1331},
    }
    created = await client.post("/api/v1/events", json=body, headers=await login(RESIDENT))
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]

    listed = [r for r in await open311(client) if r["service_request_id"] == event_id]
    one = (await client.get(f"/open311/v2/mumianling/requests/{event_id}.json")).json()
    for shown in (listed[0], one[0]):
        assert shown["description"] is None
        assert shown["address"] == "悦峰尚府" and shown["address_id"] == places.yuefeng  # the estate only
        assert shown["lat"] is None and shown["long"] is None
        dumped = json.dumps(shown, ensure_ascii=False)
        assert secret not in dumped and "3栋" not in dumped and "2单元" not in dumped and "1201" not in dumped

    # An API key that may read events sees the request in full.
    key = await integration_key(client, login, places.mumianling, source="hotline")
    full = await open311(client, api_key=key["key"], service_code="ph_repair_request")
    mine = [r for r in full if r["service_request_id"] == event_id]
    assert mine[0]["description"] == secret and mine[0]["address"] == "3栋 2单元" and mine[0]["lat"] == 22.5481
    # A key that is not valid is refused, not shown the public view.
    bad = await client.get("/open311/v2/mumianling/requests.json", params={"api_key": "lk_nope_nope"})
    assert bad.status_code == 401


async def test_only_what_the_tenant_marks_public_is_public_and_sensitive_lines_never(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()  # not the demo's history
    resident = await login(RESIDENT)
    repair = (await report(client, resident, places.yuefeng, "ph_repair_request", building="1栋")).json()
    volunteer = (await report(client, resident, places.yuefeng, "pb_volunteer_request")).json()
    wish = (await report(client, resident, places.yuefeng, "sa_wish_wall")).json()
    certificate = (await report(client, resident, places.yuefeng, "ps_certificate")).json()
    noise = (await report(client, resident, places.yuefeng, "po_noise_disturbance")).json()

    def ids(rows: list[dict[str, Any]]) -> set[str]:
        return {r["service_request_id"] for r in rows}

    # Default: city appearance and property lines.
    shown = ids(await open311(client))
    assert repair["id"] in shown
    assert not {volunteer["id"], wish["id"], certificate["id"], noise["id"]} & shown
    assert (await client.get(f"/open311/v2/mumianling/requests/{volunteer['id']}.json")).status_code == 404

    marked = ["city_appearance", "pb_volunteer_request", "social_affairs", "public_order", "ps_certificate"]
    patched = await client.patch(
        f"/api/v1/tenants/{tenant_id('mumianling')}",
        json={"settings": {"open311_public": marked}},
        headers=await login(ADMIN),
    )
    assert patched.status_code == 200, patched.text
    shown = ids(await open311(client))
    assert volunteer["id"] in shown and repair["id"] not in shown
    # Social affairs, public order and personal public services stay private even when marked.
    assert not {wish["id"], certificate["id"], noise["id"]} & shown
    for event in (wish, certificate, noise):
        assert (await client.get(f"/open311/v2/mumianling/requests/{event['id']}.json")).status_code == 404
    asked = await open311(client, service_code="sa_wish_wall,pb_volunteer_request", start_date=start)
    assert ids(asked) == {volunteer["id"]}


async def test_a_resident_cannot_raise_a_smoke_alarm(client: httpx.AsyncClient, login: Login, places: Places) -> None:
    response = await report(client, await login(RESIDENT), places.yuefeng, "sf_smoke_alarm", building="1栋")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "item_not_allowed_for_source"


async def test_system_sources_come_only_from_keys_created_for_them(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    body = {"item": "sf_smoke_alarm", "node_id": places.yuefeng, "location": {"building": "1栋"}}
    staff = await client.post("/api/v1/events", json=body | {"source": "iot_alarm"}, headers=await login(STAFF))
    assert staff.status_code == 403 and staff.json()["error"]["code"] == "source_not_allowed"
    plain = await integration_key(client, login, places.mumianling)
    claimed = await client.post(
        "/api/v1/events", json=body | {"source": "iot_alarm"}, headers={"x-api-key": plain["key"]}
    )
    assert claimed.status_code == 403 and claimed.json()["error"]["code"] == "source_not_allowed"
    # A key of another source cannot claim this one; an AI video key sends signed detections only.
    robot = await integration_key(client, login, places.mumianling, source="robot")
    as_iot = body | {"source": "iot_alarm"}
    other = await client.post("/api/v1/events", json=as_iot, headers={"x-api-key": robot["key"]})
    assert other.status_code == 403 and other.json()["error"]["code"] == "source_not_allowed"
    video = await integration_key(client, login, places.mumianling, source="ai_video")
    unsigned = await client.post("/api/v1/events", json=body, headers={"x-api-key": video["key"]})
    assert unsigned.status_code == 403 and unsigned.json()["error"]["code"] == "source_not_allowed"
    # A key created for an IoT platform raises its items, as iot_alarm, and only those items.
    iot = await integration_key(client, login, places.mumianling, source="iot_alarm")
    alarm = await client.post("/api/v1/events", json=body, headers={"x-api-key": iot["key"]})
    assert alarm.status_code == 201 and alarm.json()["source"] == "iot_alarm"
    vendor = await client.post(
        "/api/v1/events", json=body | {"item": "ca_street_vendor"}, headers={"x-api-key": iot["key"]}
    )
    assert vendor.status_code == 400 and vendor.json()["error"]["code"] == "item_not_allowed_for_source"
    # Keys are created for known sources only, with a role that raises events.
    admin = await login(ADMIN)
    refusals = (("ai_video", ["auditor"], "source_needs_role"), ("resident_report", ["integration"], None))
    for source, roles, code in refusals:
        made = await client.post(
            "/api/v1/api-keys",
            json={"name": "k", "node_id": places.mumianling, "roles": roles, "source": source},
            headers=admin,
        )
        assert made.status_code == (400 if code else 422), made.text
        assert code is None or made.json()["error"]["code"] == code


async def test_a_senders_external_reference_cannot_pre_empt_an_alarm(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession
) -> None:
    alarm_id = 990000 + uuid.uuid4().int % 9999
    ref = f"alarm:{alarm_id}"
    iot = await integration_key(client, login, places.mumianling, source="iot_alarm")
    planted = await client.post(
        "/api/v1/events",
        json={"item": "sf_co_high", "node_id": places.yuefeng, "location": {"building": "9栋"}, "external_ref": ref},
        headers={"x-api-key": iot["key"]},
    )
    assert planted.status_code == 201, planted.text
    alarm = AlarmOpened(
        alarm_id=alarm_id,
        device_id=4243,
        tenant_id=0,
        node_id=places.yuefeng,
        node_path=places.yuefeng_path,
        location={"building": "1栋"},
        rule_code="co_high",
        event_item="sf_co_high",
        severity="high",
        value=80.0,
        ts=datetime.now(UTC),
    )
    await system(db)
    real = await intake.create_from_alarm(db, alarm=alarm)
    assert str(real.id) != planted.json()["id"] and real.raised_by == "system"
    assert real.location == {"building": "1栋"} and real.status == "dispatched"
    # Replaying the real alarm still finds its own event.
    assert (await intake.create_from_alarm(db, alarm=alarm)).id == real.id
    # Two keys using the same reference each get their own event.
    other = await integration_key(client, login, places.mumianling, source="iot_alarm")
    second = await client.post(
        "/api/v1/events",
        json={"item": "sf_co_high", "node_id": places.yuefeng, "location": {"building": "8栋"}, "external_ref": ref},
        headers={"x-api-key": other["key"]},
    )
    assert second.status_code == 201 and second.json()["id"] != planted.json()["id"]
    # A user cannot claim the IoT path's source at all.
    await system(db)
    staff = await _principal(db, STAFF)
    with pytest.raises(Forbidden):
        await intake.create_event(
            db,
            actor=staff,
            intake=intake.Intake(
                item_code="sf_co_high", node_id=places.yuefeng, source="iot_alarm", external_ref=f"alarm:{alarm_id + 1}"
            ),
        )


async def _principal(db: AsyncSession, login: str) -> Principal:
    user_id = await db.scalar(text("select id from users where email = :e"), {"e": login})
    return await load_user_principal(db, user_id)


async def test_attachments_need_their_own_permission_a_relation_and_a_writable_tenant(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    resident = await login(RESIDENT)
    event = (await report(client, resident, places.yuefeng, "ph_repair_request", building="5栋")).json()
    url = f"/api/v1/events/{event['id']}/attachments"

    def photo() -> dict[str, Any]:
        return {"file": ("p.png", PNG, "image/png")}

    # An integration key reads events but attaches nothing.
    key = await integration_key(client, login, places.mumianling, source="hotline")
    refused = await client.post(url, files=photo(), headers={"x-api-key": key["key"]})
    assert refused.status_code == 403
    # A key with a staff role is checked like staff (it may dispatch here), so it may.
    admin = await login(ADMIN)
    staff_key = await client.post(
        "/api/v1/api-keys",
        json={"name": "console", "node_id": places.mumianling, "roles": ["community_staff"]},
        headers=admin,
    )
    allowed = await client.post(url, files=photo(), headers={"x-api-key": staff_key.json()["key"]})
    assert allowed.status_code == 201, allowed.text
    # A property-manager key over the grid may attach in general, but has no relation to this event.
    grid_key = await client.post(
        "/api/v1/api-keys",
        json={"name": "grid", "node_id": places.grid1, "roles": ["property_manager"]},
        headers=admin,
    )
    assert grid_key.status_code == 201, grid_key.text
    unrelated = await client.post(url, files=photo(), headers={"x-api-key": grid_key.json()["key"]})
    assert unrelated.status_code == 403 and unrelated.json()["error"]["code"] == "attachment_not_allowed"
    mine = await client.post(url, files=photo(), headers=resident)
    assert mine.status_code == 201

    suspended = await client.patch(
        f"/api/v1/tenants/{tenant_id('mumianling')}", json={"status": "suspended"}, headers=admin
    )
    assert suspended.status_code == 200, suspended.text
    frozen = await client.post(url, files=photo(), headers=resident)
    assert frozen.status_code == 403 and frozen.json()["error"]["code"] == "tenant_read_only"


async def test_api_key_lookup_compares_inside_and_never_returns_the_hash(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession
) -> None:
    key = await integration_key(client, login, places.mumianling, source="ai_video")
    _, prefix, secret = key["key"].split("_", 2)

    async def last_used() -> Any:
        await system(db)
        return await db.scalar(text("select last_used_at from api_keys where prefix = :p"), {"p": prefix})

    before = await last_used()
    # As the API role, with no scope at all (what a caller presenting a key has before it is known).
    await db.execute(text("select set_config('linli.scopes', '', true)"))
    wrong = await db.execute(text("select * from linli_api_key_lookup(:p, :h)"), {"p": prefix, "h": sha256_hex("x")})
    assert wrong.first() is None
    assert await last_used() == before
    await db.execute(text("select set_config('linli.scopes', '', true)"))
    right = await db.execute(text("select * from linli_api_key_lookup(:p, :h)"), {"p": prefix, "h": sha256_hex(secret)})
    assert "secret_hash" not in list(right.keys())
    assert str(right.one().id) == key["id"]
    assert await last_used() is not None and await last_used() != before
    # The signing secret is stored only encrypted; the replay table is not the API role's to read.
    stored = await db.scalar(text("select signing_secret from api_keys where prefix = :p"), {"p": prefix})
    assert stored and key["signing_secret"] not in stored
    with pytest.raises(ProgrammingError):
        async with db.begin_nested():
            await db.execute(text("select * from detection_signatures"))
