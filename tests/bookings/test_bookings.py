"""Bookings through the API: 200 concurrent requests for one slot make one booking (the exclusion
constraint), weekly limits and the cancellation window, the staff calendar, closing with a notice."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.bookings import service
from linli.bookings.schemas import ResourceIn
from linli.platform.db import SYSTEM_SCOPE, apply_scopes, scoped_session
from linli.tenants.service import now
from tests.conftest import Login
from tests.crowd import crowd
from tests.residentapp.conftest import RESIDENT
from tests.tenants.support import node_by_name, superuser

APP = "/api/v1/app/mumianling"
ZONE = ZoneInfo("Asia/Shanghai")


def resource_in(node_id: int, **extra: object) -> ResourceIn:
    return ResourceIn.model_validate(
        {
            "node_id": node_id,
            "service": "com_space_booking",
            "name": "多功能活动室",
            "kind": "room",
            "opens": "08:00",
            "closes": "22:00",
            "slot_minutes": 60,
            **extra,
        }
    )


def slot_at(days: int, hour: int) -> datetime:
    return datetime.combine(now().astimezone(ZONE).date() + timedelta(days=days), time(hour), tzinfo=ZONE)


async def test_200_concurrent_requests_for_one_slot_make_exactly_one_booking(migrated_database: str) -> None:
    community, estate = node_by_name("木棉岭社区")[0], node_by_name("悦峰尚府")[1]
    async with scoped_session(SYSTEM_SCOPE) as s:
        resource_id = (await service.create_resource(s, actor=None, data=resource_in(community))).id
    try:
        async with crowd(200, estate) as people:
            url = f"{APP}/resources/{resource_id}/bookings"
            body = {"starts_at": slot_at(2, 10).isoformat()}
            answers = await asyncio.gather(*(people.http.post(url, json=body, headers=h) for h in people.headers))
            codes = sorted(a.status_code for a in answers)
            assert codes == [201] + [409] * 199, {a.text for a in answers if a.status_code not in (201, 409)}
            assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"slot_taken"}
            with superuser() as conn:
                live = conn.execute(
                    "select count(*) from bookings where resource_id = %s and status = 'booked'", (resource_id,)
                ).fetchone()
            assert live == (1,)
    finally:
        with superuser() as conn:
            conn.execute("delete from resources where id = %s", (resource_id,))


async def test_a_resident_books_within_limits_and_closing_cancels_with_a_notice(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    community = node_by_name("木棉岭社区")[0]
    staff, resident = await login("staff@mumianling.demo"), await login(RESIDENT)
    payload = resource_in(community, weekly_limit=1, cancel_before_minutes=60).model_dump(mode="json")
    created = await client.post("/api/v1/resources", json=payload, headers=staff)
    assert created.status_code == 201, created.text
    resource = created.json()["id"]
    assert (await client.post("/api/v1/resources", json=payload, headers=resident)).status_code == 403

    listed = await client.get(f"{APP}/booking/com_space_booking/resources", headers=resident)
    assert resource in [r["id"] for r in listed.json()["items"]]
    day = slot_at(7, 9).date()
    slots = await client.get(f"{APP}/resources/{resource}/slots?day={day}", headers=resident)
    assert len(slots.json()["items"]) == 14 and all(s["free"] for s in slots.json()["items"])

    odd = await client.post(
        f"{APP}/resources/{resource}/bookings",
        json={"starts_at": slot_at(7, 9).replace(minute=30).isoformat()},
        headers=resident,
    )
    assert odd.status_code == 409 and odd.json()["error"]["code"] == "not_a_slot"
    booked = await client.post(
        f"{APP}/resources/{resource}/bookings", json={"starts_at": slot_at(7, 9).isoformat()}, headers=resident
    )
    assert booked.status_code == 201, booked.text
    over = await client.post(
        f"{APP}/resources/{resource}/bookings", json={"starts_at": slot_at(7, 11).isoformat()}, headers=resident
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "weekly_limit_reached"
    slots = await client.get(f"{APP}/resources/{resource}/slots?day={day}", headers=resident)
    assert [s["free"] for s in slots.json()["items"]][:3] == [True, False, True]  # 08:00, 09:00, 10:00

    cancelled = await client.post(f"{APP}/bookings/{booked.json()['id']}/cancel", headers=resident)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await client.post(
        f"{APP}/resources/{resource}/bookings", json={"starts_at": slot_at(7, 9).isoformat()}, headers=resident
    )
    assert again.status_code == 201, again.text

    window = {"start": slot_at(7, 0).isoformat(), "end": slot_at(8, 0).isoformat()}
    calendar = await client.get(f"/api/v1/resources/{resource}/bookings", params=window, headers=staff)
    assert [b["id"] for b in calendar.json()["items"]] == [again.json()["id"]]

    await apply_scopes(db, SYSTEM_SCOPE)
    await db.execute(
        text(
            "update bookings set starts_at = now() + interval '30 minutes', ends_at = now() + interval '90 minutes'"
            " where id = :id"
        ),
        {"id": again.json()["id"]},
    )
    assert await service.remind(db) >= 1 and await service.remind(db) == 0
    await db.commit()  # (a savepoint) the refused cancellation below rolls back only its own work
    db.info.pop("scopes", None)
    late = await client.post(f"{APP}/bookings/{again.json()['id']}/cancel", headers=resident)
    assert late.status_code == 409 and late.json()["error"]["code"] == "too_late_to_cancel"
    not_theirs = await client.post(f"{APP}/bookings/{again.json()['id']}/cancel", headers=staff)
    assert not_theirs.status_code == 404

    closed = await client.post(f"/api/v1/resources/{resource}/close", headers=staff)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    mine = await client.get(f"{APP}/bookings", headers=resident)
    assert (
        mine.json()["items"][0]["status"] == "cancelled"
        and mine.json()["items"][0]["cancel_reason"] == "resource_closed"
    )
    inbox = await client.get(f"{APP}/notifications", headers=resident)
    assert [n["kind"] for n in inbox.json()["items"]][:2] == ["booking.cancelled", "booking.reminder"]
    gone = await client.get(f"{APP}/booking/com_space_booking/resources", headers=resident)
    assert resource not in [r["id"] for r in gone.json()["items"]]
