"""Lock 1 narrows lock 2: a request sees rows only under the grants that carry the permission it uses."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import intake
from linli.platform.access import load_user_principal
from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from tests.tenants.support import CachedLogin, all_items, nanhong_objects, person, within

GRID = "d440303.s005.c001.g01"  # 木棉岭社区's first grid (悦峰尚府 and its demo devices lie in it)
PASSWORD = "two-hats-2026"


async def test_lists_show_a_residents_estate_as_a_resident_even_to_a_grid_worker_elsewhere(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    """Someone who lives in estate A (resident) and works in a grid of another community (grid worker)
    lists in A only their own reports, and no users, devices or alarms of A; in the grid, everything."""
    matrix = await nanhong_objects(db)  # an event, a device and an alarm in 林荫街9号院 (A)
    await apply_scopes(db, SYSTEM_SCOPE)  # objects_at leaves the session unscoped
    estate = (
        await db.execute(text("select id, node_path::text from nodes where name = '林荫街9号院' and level = 'estate'"))
    ).one()
    yuefeng = (await db.execute(text("select id from nodes where name = '悦峰尚府'"))).scalar_one()
    both = await person(db, "two.hats@example.org", PASSWORD, [("resident", estate.node_path), ("grid_worker", GRID)])
    neighbour = await person(db, "neighbour@example.org", PASSWORD, [("resident", estate.node_path)])
    await apply_scopes(db, SYSTEM_SCOPE)

    async def report(user: str | None, node: int, place: str) -> str:
        actor = None if user is None else await load_user_principal(db, uuid.UUID(user))
        event, _ = await intake.create_event(
            db,
            actor=actor,
            actor_label="test",
            intake=intake.Intake(
                item_code="ph_public_facility",
                node_id=node,
                source="resident_report" if user else "staff_patrol",
                location={"building": place},
            ),
        )
        return str(event.id)

    own = await report(both, estate.id, "1栋")
    neighbours = await report(neighbour, estate.id, "2栋")
    in_grid = await report(None, yuefeng, "3栋")
    await apply_scopes(db, ())
    headers = await login("two.hats@example.org", PASSWORD)

    listed = await all_items(client, "/api/v1/events", headers)
    ids = {e["id"] for e in listed}
    assert own in ids and in_grid in ids
    assert neighbours not in ids and matrix["event_id"] not in ids
    assert {e["id"] for e in listed if within(e["node_path"], estate.node_path)} == {own}
    assert all(within(e["node_path"], GRID) for e in listed if e["id"] != own)
    # Their own report in A stays readable one by one; a neighbour's is not there at all.
    assert (await client.get(f"/api/v1/events/{own}", headers=headers)).status_code == 200
    assert (await client.get(f"/api/v1/events/{neighbours}", headers=headers)).status_code == 404

    users = await all_items(client, "/api/v1/users", headers)
    assert users and all(within(u["node_path"], GRID) for u in users)
    assert neighbour not in {u["user_id"] for u in users}
    devices = await all_items(client, "/api/v1/devices", headers)
    assert devices and all(within(d["node_path"], GRID) for d in devices)
    assert matrix["device_id"] not in {d["id"] for d in devices}
    alarms = await all_items(client, "/api/v1/alarms", headers)
    assert matrix["alarm_id"] not in {a["id"] for a in alarms}
    assert all(within(a["node_path"], GRID) for a in alarms)
    for url in (f"/api/v1/devices/{matrix['device_id']}", f"/api/v1/alarms/{matrix['alarm_id']}"):
        assert (await client.get(url, headers=headers)).status_code == 404, url
