"""Activities through the API: 500 concurrent sign-ups for 100 places, the waitlist in arrival order and its
promotion, check-in by the resident's code with volunteer hours and points, the day-before reminder."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.activities import service
from linli.activities.schemas import ActivityIn
from linli.platform.db import SYSTEM_SCOPE, apply_scopes, scoped_session
from linli.tenants.service import now
from tests.conftest import Login
from tests.crowd import crowd
from tests.residentapp.conftest import RESIDENT
from tests.tenants.support import node_by_name, person, superuser

APP = "/api/v1/app/mumianling"


def activity_in(node_id: int, *, capacity: int, days: int = 3, hours: str = "0") -> ActivityIn:
    start = now() + timedelta(days=days)
    return ActivityIn(
        node_id=node_id,
        service="com_activities",
        title="社区义诊",
        place="活动中心",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        signup_deadline=start - timedelta(hours=1),
        capacity=capacity,
        volunteer_hours=Decimal(hours),
    )


async def test_500_concurrent_sign_ups_fill_100_places_and_queue_the_rest_in_order(migrated_database: str) -> None:
    community, estate = node_by_name("木棉岭社区")[0], node_by_name("悦峰尚府")[1]
    async with scoped_session(SYSTEM_SCOPE) as s:
        activity_id = (await service.create_activity(s, actor=None, data=activity_in(community, capacity=100))).id
    try:
        async with crowd(500, estate) as people:
            url = f"{APP}/activities/{activity_id}/signup"
            answers = await asyncio.gather(*(people.http.post(url, headers=h) for h in people.headers))
            assert {a.status_code for a in answers} == {201}, {a.text for a in answers if a.status_code != 201}
            statuses = [a.json()["my_status"] for a in answers]
            assert statuses.count("confirmed") == 100 and statuses.count("waitlisted") == 400
            with superuser() as conn:
                rows = conn.execute(
                    "select status, position, user_id from activity_signups where activity_id = %s order by position",
                    (activity_id,),
                ).fetchall()
                taken = conn.execute("select taken from activities where id = %s", (activity_id,)).fetchone()
            # Places went to the first 100 to take the activity's lock; the queue keeps that order.
            assert [r[1] for r in rows] == list(range(1, 501))
            assert [r[0] for r in rows] == ["confirmed"] * 100 + ["waitlisted"] * 400
            assert taken == (100,)

            first_waiting = rows[100][2]
            leaving = people.ids.index(rows[0][2])
            cancelled = await people.http.post(f"{url}/cancel", headers=people.headers[leaving])
            assert cancelled.status_code == 200 and cancelled.json()["my_status"] == "cancelled"
            promoted = people.headers[people.ids.index(first_waiting)]
            listed = await people.http.get(f"{APP}/signup/com_activities/activities", headers=promoted)
            mine = next(a for a in listed.json()["items"] if a["id"] == activity_id)
            assert mine["my_status"] == "confirmed" and mine["taken"] == 100
            second = next(
                a
                for a in (
                    await people.http.get(
                        f"{APP}/signup/com_activities/activities",
                        headers=people.headers[people.ids.index(rows[101][2])],
                    )
                ).json()["items"]
                if a["id"] == activity_id
            )
            assert second["my_status"] == "waitlisted" and second["my_position"] == 1
            inbox = await people.http.get(f"{APP}/notifications", headers=promoted)
            assert [n["kind"] for n in inbox.json()["items"]] == ["activity.promoted"]
    finally:
        with superuser() as conn:
            conn.execute("delete from activities where id = %s", (activity_id,))


async def test_a_resident_signs_up_waits_is_promoted_checks_in_and_earns_points(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    community, estate = node_by_name("木棉岭社区")[0], node_by_name("悦峰尚府")[1]
    await person(db, "neighbour@life.test", "neighbour-pass-1", [("resident", estate)])
    staff, first, second = (
        await login("staff@mumianling.demo"),
        await login(RESIDENT),
        await login("neighbour@life.test", "neighbour-pass-1"),
    )
    rules = await client.put(
        f"/api/v1/points/rules?node_id={community}",
        json={"rules": [{"rule": "checkin", "points": 5}, {"rule": "volunteer_hour", "points": 10}]},
        headers=staff,
    )
    assert rules.status_code == 200
    payload = activity_in(community, capacity=1, hours="2").model_dump(mode="json")
    created = await client.post("/api/v1/activities", json=payload, headers=staff)
    assert created.status_code == 201, created.text
    activity = created.json()["id"]
    refused = await client.post("/api/v1/activities", json=payload, headers=first)
    assert refused.status_code == 403

    one = await client.post(f"{APP}/activities/{activity}/signup", headers=first)
    assert one.status_code == 201 and one.json()["my_status"] == "confirmed", one.text
    again = await client.post(f"{APP}/activities/{activity}/signup", headers=first)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_signed_up"
    two = await client.post(f"{APP}/activities/{activity}/signup", headers=second)
    assert two.json()["my_status"] == "waitlisted" and two.json()["my_position"] == 1
    gone = await client.post(f"{APP}/activities/{activity}/signup/cancel", headers=first)
    assert gone.status_code == 200
    signups = await client.get(f"/api/v1/activities/{activity}/signups", headers=staff)
    assert [s["status"] for s in signups.json()["items"]] == ["confirmed", "cancelled"]

    code = await client.post(f"{APP}/activities/{activity}/checkin-code", headers=second)
    assert code.status_code == 200, code.text
    forged = await client.post(
        f"/api/v1/activities/{activity}/checkins", json={"code": code.json()["code"] + "x"}, headers=staff
    )
    assert forged.status_code == 409
    checked = await client.post(
        f"/api/v1/activities/{activity}/checkins", json={"code": code.json()["code"]}, headers=staff
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["checked_in_at"] and Decimal(checked.json()["hours"]) == Decimal(2)
    twice = await client.post(
        f"/api/v1/activities/{activity}/checkins", json={"code": code.json()["code"]}, headers=staff
    )
    assert twice.status_code == 200
    points = await client.get(f"{APP}/points/com_points_mall", headers=second)
    assert points.json()["balance"] == 25 and [m["reason"] for m in points.json()["items"]] == ["checkin"]

    await apply_scopes(db, SYSTEM_SCOPE)
    await db.execute(
        text(
            "update activities set signup_deadline = now() + interval '19 hours',"
            " starts_at = now() + interval '20 hours', ends_at = now() + interval '22 hours' where id = :id"
        ),
        {"id": activity},
    )
    assert await service.remind(db) >= 1
    assert await service.remind(db) == 0  # once per activity
    db.info.pop("scopes", None)
    inbox = await client.get(f"{APP}/notifications", headers=second)
    assert [n["kind"] for n in inbox.json()["items"]][:2] == ["activity.reminder", "activity.promoted"]
    audit = await db.scalar(
        text("select count(*) from audit_log where object_type = 'activity_signup' and action like 'activity.%'")
    )
    assert audit and audit >= 5
