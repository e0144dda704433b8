"""The points ledger through the API: two entries summing to zero per movement, a balance that never
goes below zero under concurrent redemptions, statements, rules, the catalogue, switched-off services."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.points import service
from linli.points.demo import WELCOME_POINTS
from tests.conftest import Login
from tests.crowd import crowd
from tests.residentapp.conftest import RESIDENT
from tests.tenants.support import node_by_name, superuser, tenant_id

APP = "/api/v1/app/mumianling"


def ledger_problems(conn_rows: list[tuple[int, int, int]]) -> list[int]:
    """Movements whose entries are not two summing to zero: rows are (movement, entries, sum)."""
    return [m for m, count, total in conn_rows if count != 2 or total != 0]


async def test_concurrent_redemptions_never_take_a_balance_below_zero(migrated_database: str) -> None:
    estate = node_by_name("悦峰尚府")[1]
    tenant = (tenant_id("mumianling"), node_by_name("木棉岭社区")[1])
    with superuser() as conn:
        reward = conn.execute(
            "insert into points_rewards (tenant_id, node_path, name, cost) values (%s, %s::ltree, '环保袋', 10)"
            " returning id",
            tenant,
        ).fetchone()[0]  # type: ignore[index]
    try:
        async with crowd(1, estate) as people:
            async with scoped_session(SYSTEM_SCOPE) as s:
                await service.move(
                    s,
                    actor=None,
                    tenant=tenant,
                    user_id=people.ids[0],
                    resident_path=estate,
                    kind="adjust",
                    amount=100,
                    reason="adjustment",
                )
            url = f"{APP}/points/com_points_mall/rewards/{reward}/redeem"
            answers = await asyncio.gather(*(people.http.post(url, headers=people.headers[0]) for _ in range(100)))
            codes = sorted(a.status_code for a in answers)
            assert codes == [201] * 10 + [409] * 90, [a.text for a in answers if a.status_code not in (201, 409)]
            assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"insufficient_points"}
            mine = await people.http.get(f"{APP}/points/com_points_mall", headers=people.headers[0])
            assert mine.json()["balance"] == 0 and len(mine.json()["items"]) == 11
            with superuser() as conn:
                balance = conn.execute(
                    "select balance from points_accounts where user_id = %s", (people.ids[0],)
                ).fetchone()
                assert balance == (0,)
                rows = conn.execute(
                    "select m.id, count(e.id), coalesce(sum(e.amount), 0) from points_movements m"
                    " left join points_entries e on e.movement_id = m.id join points_accounts a on a.id = m.account_id"
                    " where a.user_id = %s group by m.id",
                    (people.ids[0],),
                ).fetchall()
                assert len(rows) == 11 and ledger_problems(rows) == []
    finally:
        with superuser() as conn:
            conn.execute("delete from points_rewards where id = %s", (reward,))


async def test_staff_set_rules_and_catalogue_and_a_resident_redeems_from_a_statement(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    staff, resident = await login("staff@mumianling.demo"), await login(RESIDENT)
    community = node_by_name("木棉岭社区")[0]
    put = await client.put(
        f"/api/v1/points/rules?node_id={community}",
        json={"rules": [{"rule": "checkin", "points": 5}, {"rule": "volunteer_hour", "points": 10}]},
        headers=staff,
    )
    assert put.status_code == 200, put.text
    assert {(r["rule"], r["points"]) for r in put.json()} >= {("checkin", 5), ("volunteer_hour", 10)}
    refused = await client.put(f"/api/v1/points/rules?node_id={community}", json={"rules": []}, headers=resident)
    assert refused.status_code == 403

    me = await client.get(f"{APP}/points/com_points_mall", headers=resident)
    user_id, start = me.json()["user_id"], me.json()["balance"]
    assert start == WELCOME_POINTS and me.json()["items"][0]["reason"] == "welcome"  # the demo's
    reward = await client.post(
        "/api/v1/points/rewards",
        json={"node_id": community, "name": "洗衣液", "name_en": "Detergent", "cost": start + 30, "stock": 1},
        headers=staff,
    )
    assert reward.status_code == 201, reward.text
    catalogue = await client.get(f"{APP}/points/com_points_mall/rewards", headers=resident)
    assert reward.json()["id"] in [r["id"] for r in catalogue.json()["items"]]

    redeem = f"{APP}/points/com_points_mall/rewards/{reward.json()['id']}/redeem"
    poor = await client.post(redeem, headers=resident)
    assert poor.status_code == 409 and poor.json()["error"]["code"] == "insufficient_points"

    tenant = (tenant_id("mumianling"), node_by_name("木棉岭社区")[1])
    earning = {
        "actor": None,
        "tenant": tenant,
        "user_id": user_id,
        "resident_path": node_by_name("悦峰尚府")[1],
        "kind": "earn",
        "amount": 40,
        "reason": "checkin",
        "reference": "test:once",
    }
    assert await service.move(db, **earning) is not None
    assert await service.move(db, **earning) is None  # a reference is paid once
    db.info.pop("scopes", None)
    paid = await client.post(redeem, headers=resident)
    assert paid.status_code == 201, paid.text
    assert paid.json()["balance"] == 10
    gone = await client.post(redeem, headers=resident)
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "out_of_stock"

    statement = await client.get(f"/api/v1/points/accounts/{user_id}", headers=staff)
    assert statement.status_code == 200, statement.text
    assert [m["amount"] for m in statement.json()["items"]][:2] == [-(start + 30), 40]
    assert statement.json()["balance"] == 10
    adjusted = await client.post(
        "/api/v1/points/adjustments",
        json={"node_id": community, "user_id": user_id, "amount": -1000, "note": "纠错"},
        headers=staff,
    )
    assert adjusted.status_code == 409

    off = await client.patch(
        f"/api/v1/tenants/{tenant[0]}/services/com_points_mall", json={"enabled": False}, headers=staff
    )
    assert off.status_code == 200, off.text
    refused_app = await client.get(f"{APP}/points/com_points_mall", headers=resident)
    assert refused_app.status_code == 404 and refused_app.json()["error"]["code"] == "service_disabled"


async def test_an_approved_recycling_bank_drop_off_earns_points_once(client: httpx.AsyncClient, login: Login) -> None:
    staff, resident = await login("staff@mumianling.demo"), await login(RESIDENT)
    community = node_by_name("木棉岭社区")[0]
    rules = {"rules": [{"rule": "recycling_dropoff", "points": 2}]}
    assert (await client.put(f"/api/v1/points/rules?node_id={community}", json=rules, headers=staff)).status_code == 200
    before = (await client.get(f"{APP}/points/com_points_mall", headers=resident)).json()["balance"]
    case = await client.post(
        f"{APP}/forms/prop_garbage_bank/cases",
        json={"values": {"material": "paper", "weight_kg": 3}},
        headers=resident,
    )
    assert case.status_code == 201, case.text
    approved = await client.post(
        f"/api/v1/form-cases/{case.json()['id']}/review", json={"decision": "approve"}, headers=staff
    )
    assert approved.status_code == 200, approved.text
    mine = (await client.get(f"{APP}/points/com_points_mall", headers=resident)).json()
    assert mine["balance"] == before + 6
    assert (mine["items"][0]["reason"], mine["items"][0]["reference"]) == (
        "recycling",
        f"form_case:{case.json()['id']}",
    )
