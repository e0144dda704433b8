"""Patrol rounds end to end: a plan's schedule makes rounds (once), the walker checks in by the
checkpoints' codes with photos, a finding becomes a `staff_patrol` event at the checkpoint, an unfinished
round turns late at its deadline and the community's staff hear of it once, and the overview counts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.patrol import service
from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from tests.conftest import Login
from tests.photos import jpeg_with_gps
from tests.tenants.support import node_by_name, superuser

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF, GRID, OUTSIDER = "staff@mumianling.demo", "grid@mumianling.demo", "staff@nanhong.demo"
# A morning round due at 08:00 in Shanghai, to be walked within an hour.
MORNING = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)


def user_id(email: str) -> str:
    with superuser() as conn:
        row = conn.execute("select id::text from users where email = %s", (email,)).fetchone()
    assert row is not None
    return str(row[0])


def buildings(estate: str) -> list[tuple[int, str]]:
    with superuser() as conn:
        rows = conn.execute(
            "select l.id, l.name from locations l join nodes n on n.id = l.node_id "
            "where n.name = %s and l.kind = 'building' order by l.id limit 3",
            (estate,),
        ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


async def make_plan(
    client: httpx.AsyncClient, staff: dict[str, str], *, hours: list[int], window: int
) -> dict[str, Any]:
    estate_id, _ = node_by_name("悦峰尚府")
    grid_id, _ = node_by_name("木棉岭第1网格")
    body = {
        "node_id": grid_id,
        "name": "悦峰尚府消防巡查",
        "assignee_id": user_id(GRID),
        "hours": hours,
        "window_minutes": window,
        "checkpoints": [
            {"node_id": estate_id, "location_id": location, "name": f"{name}消防通道"}
            for location, name in buildings("悦峰尚府")
        ],
    }
    created = await client.post("/api/v1/patrol/plans", json=body, headers=staff)
    assert created.status_code == 201, created.text
    plan: dict[str, Any] = created.json()
    assert [c["position"] for c in plan["checkpoints"]] == [1, 2, 3]
    return plan


def again_round(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    checkpoints: list[dict[str, Any]] = response.json()["checkpoints"]
    return checkpoints


async def rounds_of(db: AsyncSession, plan_id: int, now: datetime) -> int:
    await apply_scopes(db, SYSTEM_SCOPE)
    made = await service.schedule_rounds(db, now=now)
    await apply_scopes(db, ())
    return made


async def check_in(
    client: httpx.AsyncClient, headers: dict[str, str], round_id: int, code: str, **fields: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/patrol/rounds/{round_id}/checkins", data={"code": code, **fields}, headers=headers
    )


async def add_photo(
    client: httpx.AsyncClient, headers: dict[str, str], round_id: int, checkpoint_id: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/patrol/rounds/{round_id}/checkins/{checkpoint_id}/photo",
        files={"file": ("p.jpg", jpeg_with_gps(), "image/jpeg")},
        headers=headers,
    )


async def test_a_round_with_one_checkpoint_missed_turns_late_escalates_once_and_counts_as_late(
    client: httpx.AsyncClient, db: AsyncSession, login: Login
) -> None:
    staff, grid = await login(STAFF), await login(GRID)
    plan = await make_plan(client, staff, hours=[8], window=60)
    assert await rounds_of(db, plan["id"], MORNING) == 2  # this morning's and tomorrow's
    assert await rounds_of(db, plan["id"], MORNING) == 0  # the scheduler may run twice

    mine = await client.get("/api/v1/patrol/rounds", params={"mine": True}, headers=grid)
    assert mine.status_code == 200, mine.text
    today = next(r for r in mine.json()["items"] if r["due_at"] == "2026-11-26T00:00:00Z")
    assert today["deadline_at"] == "2026-11-26T01:00:00Z" and today["status"] == "open"
    first, second, third = plan["checkpoints"]
    walked = await check_in(client, grid, today["id"], f"linli-patrol:{first['code']}", note="通道畅通", latitude=30.6)
    assert walked.status_code == 201, walked.text
    found = await check_in(
        client,
        grid,
        today["id"],
        second["code"],
        finding_item="sf_fire_passage_blocked",
        finding_description="电动车堵塞消防通道",
    )
    assert found.status_code == 201, found.text
    for checkpoint in (first, second):
        photo = await add_photo(client, grid, today["id"], checkpoint["id"])
        assert photo.status_code == 201, photo.text
    again = await add_photo(client, grid, today["id"], first["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "photo_exists"
    not_yet = await add_photo(client, grid, today["id"], third["id"])
    assert not_yet.status_code == 404
    checked = {
        c["id"]: c["checked"]
        for c in again_round(await client.get(f"/api/v1/patrol/rounds/{today['id']}", headers=grid))
    }
    assert checked[first["id"]]["note"] == "通道畅通" and checked[first["id"]]["has_photo"] is True
    event_id = checked[second["id"]]["finding_event_id"]
    assert checked[third["id"]] is None and found.json()["status"] == "open"
    assert checked[second["id"]]["has_photo"] is True

    await apply_scopes(db, SYSTEM_SCOPE)
    event = (
        await db.execute(
            text("select source, node_id, location->>'building' b, item_code from events where id = :i"),
            {"i": event_id},
        )
    ).one()
    assert (event.source, event.node_id, event.item_code) == (
        "staff_patrol",
        second["node_id"],
        "sf_fire_passage_blocked",
    )
    assert event.b == buildings("悦峰尚府")[1][1]
    photos = await db.execute(text("select count(*) from event_attachments where event_id = :i"), {"i": event_id})
    assert photos.scalar_one() == 1

    before_deadline = datetime(2026, 11, 26, 0, 59, tzinfo=UTC)
    assert await service.sweep_rounds(db, now=before_deadline) == 0
    after_deadline = datetime(2026, 11, 26, 1, 1, tzinfo=UTC)
    assert await service.sweep_rounds(db, now=after_deadline) == 1
    assert await service.sweep_rounds(db, now=after_deadline + timedelta(hours=1)) == 0  # once
    told = await db.execute(
        text(
            "select recipient_id::text, body from notifications where kind = 'patrol_late' "
            "and (payload->>'round_id')::bigint = :r"
        ),
        {"r": today["id"]},
    )
    notes = told.all()
    assert user_id(STAFF) in {n.recipient_id for n in notes}
    assert all("1 个" in n.body and third["name"] in n.body for n in notes)
    await apply_scopes(db, ())

    late = await client.get(f"/api/v1/patrol/rounds/{today['id']}", headers=staff)
    assert late.json()["status"] == "late" and late.json()["completed_at"] is None
    grid_id, _ = node_by_name("木棉岭第1网格")
    window = {"node_id": grid_id, "from": "2026-11-25T00:00:00Z", "to": "2026-11-26T12:00:00Z"}
    overview = await client.get("/api/v1/patrol/overview", params=window, headers=staff)
    assert overview.status_code == 200, overview.text
    assert overview.json() == {"done": 0, "late": 1, "open": 0, "missed": 1, "on_time_rate": 0.0}


async def test_a_round_walked_within_its_window_is_done_on_time(
    client: httpx.AsyncClient, db: AsyncSession, login: Login
) -> None:
    staff, grid = await login(STAFF), await login(GRID)
    now = datetime.now(UTC)
    plan = await make_plan(client, staff, hours=[now.astimezone(SHANGHAI).hour], window=1440)
    assert await rounds_of(db, plan["id"], now) >= 1
    due = await client.get("/api/v1/patrol/rounds", params={"mine": True, "status": "open"}, headers=grid)
    current = next(r for r in due.json()["items"] if r["plan_id"] == plan["id"] and r["due_at"] <= now.isoformat())
    for checkpoint in plan["checkpoints"]:
        walked = await check_in(client, grid, current["id"], checkpoint["code"])
        assert walked.status_code == 201, walked.text
    assert walked.json()["status"] == "done" and walked.json()["completed_at"] is not None
    again = await check_in(client, grid, current["id"], plan["checkpoints"][0]["code"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "round_finished"


async def test_wrong_codes_repeats_and_other_tenants_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, login: Login
) -> None:
    staff, grid, outsider = await login(STAFF), await login(GRID), await login(OUTSIDER)
    plan = await make_plan(client, staff, hours=[8], window=60)
    await rounds_of(db, plan["id"], MORNING)
    rounds = (await client.get("/api/v1/patrol/rounds", params={"mine": True}, headers=grid)).json()["items"]
    round_id = next(r["id"] for r in rounds if r["plan_id"] == plan["id"])
    wrong = await check_in(client, grid, round_id, "0000000000000000")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "unknown_checkpoint"
    assert (await check_in(client, grid, round_id, plan["checkpoints"][0]["code"])).status_code == 201
    twice = await check_in(client, grid, round_id, plan["checkpoints"][0]["code"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_checked_in"

    hidden = await client.get(f"/api/v1/patrol/rounds/{round_id}", headers=outsider)
    missing = await client.get("/api/v1/patrol/rounds/999999999", headers=outsider)
    assert hidden.status_code == missing.status_code == 404
    walked_by_outsider = await check_in(client, outsider, round_id, plan["checkpoints"][1]["code"])
    assert walked_by_outsider.status_code == 404
    cannot_plan = await client.post(
        "/api/v1/patrol/plans",
        json={
            "node_id": plan["node_id"],
            "name": "x",
            "assignee_id": user_id(GRID),
            "hours": [8],
            "checkpoints": [{"node_id": plan["node_id"], "name": "y"}],
        },
        headers=grid,
    )
    assert cannot_plan.status_code == 403

    qr = await client.get(f"/api/v1/patrol/checkpoints/{plan['checkpoints'][0]['id']}/qr.svg", headers=grid)
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.lstrip().startswith("<?xml") or "<svg" in qr.text
