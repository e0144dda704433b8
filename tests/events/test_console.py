"""What the console's events pages read: the list's filters and counts, polling for changes, and an
event's page with the actions its viewer may take now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Login
from tests.events.conftest import PNG, Places, system
from tests.events.test_governance_loop import PROPERTY, RESIDENT, STAFF, report
from tests.tenants.support import LUOHU, person

AUDITOR = "auditor@luohu.test"


async def detail(client: httpx.AsyncClient, headers: dict[str, str], event_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/events/{event_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def act(client: httpx.AsyncClient, headers: dict[str, str], event_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/events/{event_id}/transitions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_each_viewer_is_offered_what_they_may_do_now(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession
) -> None:
    await person(db, AUDITOR, "auditor-pass-1", [("auditor", LUOHU)])
    resident, handler, staff = await login(RESIDENT), await login(PROPERTY), await login(STAFF)
    auditor = await login(AUDITOR, "auditor-pass-1")
    event = (await report(client, resident, places.yuefeng, "ca_garbage_overflow", building="8栋")).json()
    merged = await report(client, staff, places.yuefeng, "ca_garbage_overflow", building="8栋")
    assert merged.json()["id"] == event["id"]

    seen = await detail(client, handler, event["id"])
    assert seen["node_name"] == "悦峰尚府" and seen["evidence_required"] is True and seen["overdue"] is False
    assert set(seen["allowed_actions"]) == {"accept", "reject", "comment", "attach"}
    assert [(d["kind"], d["level"], d["done_at"]) for d in seen["deadlines"]] == [
        ("accept", 0, None),
        ("resolve", 0, None),
    ]
    also = [(r["reporter_label"], r["source"]) for r in seen["also_reported_by"]]
    assert also == [("木棉岭社区工作人员", "staff_patrol")]
    assert set((await detail(client, staff, event["id"]))["allowed_actions"]) == {
        "accept",
        "reject",
        "cancel",
        "dispatch",
        "comment",
        "attach",
    }
    assert set((await detail(client, resident, event["id"]))["allowed_actions"]) == {"cancel", "comment", "attach"}
    assert (await detail(client, auditor, event["id"]))["allowed_actions"] == []

    accepted = await act(client, handler, event["id"], action="accept")
    assert accepted["assignee_id"] == (await client.get("/api/v1/me", headers=handler)).json()["id"]
    assert set((await detail(client, handler, event["id"]))["allowed_actions"]) == {
        "start",
        "resolve",
        "reject",
        "comment",
        "attach",
    }
    photo = await client.post(
        f"/api/v1/events/{event['id']}/attachments", files={"file": ("after.png", PNG, "image/png")}, headers=handler
    )
    await act(client, handler, event["id"], action="resolve", attachments=[photo.json()["id"]])
    await act(client, resident, event["id"], action="close")
    closed = await detail(client, resident, event["id"])
    assert set(closed["allowed_actions"]) == {"reopen", "comment", "rate", "attach"}
    assert closed["deadlines"][0]["outcome"] == "met" and closed["rating"] is None
    rated = await client.post(f"/api/v1/events/{event['id']}/rating", json={"score": 5}, headers=resident)
    assert rated.status_code == 201
    after = await detail(client, resident, event["id"])
    assert after["rating"]["score"] == 5 and "rate" not in after["allowed_actions"]
    assert after["version"] > closed["version"]  # rating it is a change pollers see

    # In a suspended tenant nobody is offered anything.
    await system(db)
    await db.execute(text("update tenants set status = 'suspended' where slug = 'mumianling'"))
    assert (await detail(client, staff, event["id"]))["allowed_actions"] == []


async def test_lists_filter_count_and_poll_for_changes(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession
) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()  # the demo's history is older
    resident, handler, staff = await login(RESIDENT), await login(PROPERTY), await login(STAFF)
    repair = (await report(client, resident, places.yuefeng, "ph_repair_request", building="7栋")).json()
    road = (await report(client, staff, places.other_estate, "ca_road_damage")).json()

    async def ids(headers: dict[str, str], **params: Any) -> list[str]:
        response = await client.get("/api/v1/events", params={"from": start, **params}, headers=headers)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    assert await ids(staff) == [road["id"], repair["id"]]
    assert await ids(staff, line="property_housing") == [repair["id"]]
    assert await ids(staff, line="property_housing,city_appearance", source="staff_patrol") == [road["id"]]
    assert await ids(staff, node_id=places.yuefeng) == [repair["id"]]
    listed = (await client.get("/api/v1/events", params={"from": start}, headers=staff)).json()["items"]
    assert [e["node_name"] for e in listed][1] == "悦峰尚府" and listed[0]["node_name"] not in ("", "悦峰尚府")

    await act(client, handler, repair["id"], action="accept")
    assert await ids(handler, assigned="me") == [repair["id"]]
    assert await ids(staff, assigned="me") == []
    # The property manager handles his estate's property company's events, accepted or not.
    assert await ids(handler, assigned="my_units") == [repair["id"]]
    counts = (await client.get("/api/v1/events/counts", params={"from": start}, headers=staff)).json()
    assert counts == {"total": 2, "overdue": 0, "by_status": {"accepted": 1, "dispatched": 1}}

    # Polling: what changed after a moment shows, what did not stays out.
    page = await client.get("/api/v1/events", params={"from": start}, headers=staff)
    as_of = datetime.fromisoformat(page.headers["x-linli-as-of"])
    assert timedelta(0) < datetime.now(UTC) - as_of < timedelta(minutes=2)
    moment = datetime.now(UTC).isoformat()
    await act(client, staff, road["id"], action="comment", note="on the patrol list")
    assert await ids(staff, updated_since=moment) == [road["id"]]

    # Overdue: open and past a deadline.
    await system(db)
    await db.execute(
        text("update events set accept_by = now() - interval '1 minute' where id = :id"), {"id": road["id"]}
    )
    assert await ids(staff, overdue="true") == [road["id"]]
    counts = (await client.get("/api/v1/events/counts", params={"from": start}, headers=staff)).json()
    assert counts["overdue"] == 1
    assert (await detail(client, staff, road["id"]))["overdue"] is True
    naive = await client.get("/api/v1/events", params={"updated_since": "2026-11-01T00:00:00"}, headers=staff)
    assert naive.status_code == 400 and naive.json()["error"]["code"] == "naive_datetime"
    # A resident counts only their own reports.
    mine = (await client.get("/api/v1/events/counts", headers=resident)).json()
    assert mine["total"] == 1
