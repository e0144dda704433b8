from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from linli.residents.schemas import id_check_character
from tests.conftest import Login


def valid_id(first17: str) -> str:
    return first17 + id_check_character(first17)


async def all_residents(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 50, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/residents", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def node_id(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> int:
    response = await client.get("/api/v1/nodes", params={"q": name}, headers=headers)
    assert response.status_code == 200, response.text
    return int(next(n["id"] for n in response.json()["items"] if n["name"] == name))


async def a_unit(db: AsyncSession, estate_id: int) -> int:
    await apply_scopes(db, SYSTEM_SCOPE)
    row = await db.execute(
        text("select id from locations where node_id = :e and kind = 'unit' order by id limit 1"), {"e": estate_id}
    )
    return int(row.scalar_one())


async def test_staff_sees_their_community_in_full_with_cursor_pages(client: httpx.AsyncClient, login: Login) -> None:
    staff = await login("staff@mumianling.demo")
    people = await all_residents(client, staff)
    assert len(people) >= 100
    assert len({p["id"] for p in people}) == len(people)  # pages do not overlap
    assert all(p["node_path"].startswith("d440303.s005.c001.") for p in people)
    li = next(p for p in people if p["phone"] == "13800000001")
    assert li["name"] == "李悦" and li["masked"] is False
    assert re.fullmatch(r"[0-9]{17}[0-9X]", li["id_number"])
    # Households average about 2.6 people.
    households = {p["household_id"] for p in people}
    assert 1.8 <= len(people) / len(households) <= 3.5


async def test_grid_worker_property_manager_and_auditor_see_masked_data(
    client: httpx.AsyncClient, login: Login
) -> None:
    for account in ("grid@mumianling.demo", "property@yuefeng.demo"):
        people = await all_residents(client, await login(account))
        assert people, account
        li = next(p for p in people if p["phone"] and p["phone"].endswith("0001") and p["name"].startswith("李"))
        assert li["masked"] is True
        assert li["phone"] == "138****0001"
        assert li["name"] == "李*"
        assert re.fullmatch(r"[0-9]{3}\*{11}[0-9]{3}[0-9X]", li["id_number"])
    auditor = await all_residents(client, await login("auditor@wuhou.demo"), limit=200)
    assert auditor and all(p["masked"] for p in auditor)
    assert all(p["node_path"].startswith("d510107.") for p in auditor)
    assert all("*" in p["name"] for p in auditor)


async def test_other_tenants_residents_are_404(client: httpx.AsyncClient, login: Login) -> None:
    mumianling = await all_residents(client, await login("staff@mumianling.demo"))
    response = await client.get(f"/api/v1/residents/{mumianling[0]['id']}", headers=await login("staff@nanhong.demo"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    nanhong = await all_residents(client, await login("staff@nanhong.demo"))
    assert nanhong and not {p["id"] for p in nanhong} & {p["id"] for p in mumianling}


async def test_filters_care_category_node_and_name(client: httpx.AsyncClient, login: Login) -> None:
    staff = await login("staff@nanhong.demo")
    alone = await all_residents(client, staff, care_category="elderly_alone")
    assert any(p["name"] == "刘素珍" for p in alone)
    assert all("elderly_alone" in p["care_categories"] for p in alone)
    estate = await node_id(client, staff, "林荫街9号院")
    in_estate = await all_residents(client, staff, node_id=estate)
    assert in_estate and all(p["estate_id"] == estate for p in in_estate)
    everyone = await all_residents(client, staff)
    assert len(in_estate) < len(everyone)
    by_name = await all_residents(client, staff, q="素珍")
    assert [p["name"] for p in by_name] == ["刘素珍"]
    # Names with letters that have case still match whatever case is typed (汉字 match exactly).
    household = {"household": {"node_id": estate, "room": "101"}}
    created = await client.post("/api/v1/residents", json=household | {"name": "Anna Müller"}, headers=staff)
    assert created.status_code == 201, created.text
    for typed in ("anna MÜLLER", "müll"):
        assert [p["name"] for p in await all_residents(client, staff, q=typed)] == ["Anna Müller"], typed


async def test_create_search_by_id_number_update_and_audit(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    staff = await login("staff@mumianling.demo")
    estate = await node_id(client, staff, "悦峰尚府")
    unit = await a_unit(db, estate)
    number = valid_id("44030319560312771")
    body = {
        "household": {"node_id": estate, "location_id": unit, "room": "2301"},
        "name": "欧阳春花",
        "phone": "13912345678",
        "gender": "female",
        "birth_year": 1956,
        "id_number": number,
        "care_categories": ["elderly_alone"],
    }
    created = await client.post("/api/v1/residents", json=body, headers=staff)
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["id_number"] == number and person["estate_id"] == estate and person["room"] == "2301"

    # Stored only encrypted, searchable by its keyed hash.
    stored = (
        await db.execute(
            text("select id_number_encrypted, id_number_hash from people where id = :id"), {"id": person["id"]}
        )
    ).one()
    assert number not in stored[0] and len(stored[1]) == 64
    found = await all_residents(client, staff, id_number=number.lower())
    assert [p["id"] for p in found] == [person["id"]]

    again = await client.post("/api/v1/residents", json=body | {"name": "重复"}, headers=staff)
    assert again.status_code == 409 and again.json()["error"]["code"] == "id_number_registered"

    grid = await login("grid@mumianling.demo")
    forbidden = await client.get("/api/v1/residents", params={"id_number": number}, headers=grid)
    assert forbidden.status_code == 403

    patched = await client.patch(
        f"/api/v1/residents/{person['id']}",
        json={"care_categories": ["empty_nest_elderly"], "phone": None},
        headers=grid,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["care_categories"] == ["empty_nest_elderly"]
    assert patched.json()["phone"] is None and patched.json()["masked"] is True

    audit_rows = (
        await db.execute(
            text(
                "select action, before, after from audit_log "
                "where object_type = 'resident' and object_id = :id order by seq"
            ),
            {"id": str(person["id"])},
        )
    ).all()
    assert [r[0] for r in audit_rows] == ["resident.create", "resident.update"]
    logged = str([r[1] for r in audit_rows] + [r[2] for r in audit_rows])
    assert number not in logged and "13912345678" not in logged and "欧阳春花" not in logged
    assert audit_rows[1][2]["care_categories"] == ["empty_nest_elderly"]


async def test_bad_input_is_4xx(client: httpx.AsyncClient, login: Login) -> None:
    staff = await login("staff@mumianling.demo")
    estate = await node_id(client, staff, "悦峰尚府")
    base = {"household": {"node_id": estate}, "name": "测试"}
    bad_check = await client.post("/api/v1/residents", json=base | {"id_number": "440303195603127710"}, headers=staff)
    assert bad_check.status_code == 422
    unknown = await client.post("/api/v1/residents", json=base | {"care_categories": ["vip"]}, headers=staff)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_care_category"
    grid_node = await node_id(client, staff, "木棉岭第1网格")
    not_estate = await client.post(
        "/api/v1/residents", json=base | {"household": {"node_id": grid_node}}, headers=staff
    )
    assert not_estate.status_code == 400 and not_estate.json()["error"]["code"] == "not_an_estate"
    extra = await client.post("/api/v1/residents", json=base | {"node_path": "d440303"}, headers=staff)
    assert extra.status_code == 422
    property_manager = await login("property@yuefeng.demo")
    denied = await client.post("/api/v1/residents", json=base, headers=property_manager)
    assert denied.status_code == 403
    bad_cursor = await client.get("/api/v1/residents", params={"cursor": "eA"}, headers=staff)
    assert bad_cursor.status_code == 400


async def test_resident_sees_only_own_household(client: httpx.AsyncClient, login: Login) -> None:
    resident = await login("13800000001")
    people = await all_residents(client, resident)
    assert len(people) == 4
    assert len({p["household_id"] for p in people}) == 1
    assert all(p["masked"] for p in people)
    others = await all_residents(client, await login("property@yuefeng.demo"))
    stranger = next(p for p in others if p["household_id"] != people[0]["household_id"])
    response = await client.get(f"/api/v1/residents/{stranger['id']}", headers=resident)
    assert response.status_code == 404
    households = await client.get("/api/v1/households", headers=resident)
    assert [h["id"] for h in households.json()["items"]] == [people[0]["household_id"]]
    assert households.json()["items"][0]["members"] == 4


async def test_masked_roles_cannot_set_identity_numbers(client: httpx.AsyncClient, login: Login) -> None:
    grid = await login("grid@mumianling.demo")
    person = (await all_residents(client, grid))[0]
    response = await client.patch(
        f"/api/v1/residents/{person['id']}", json={"id_number": valid_id("44030319800101001")}, headers=grid
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "id_number_not_allowed"


async def test_district_wide_pages_walk_in_id_order(client: httpx.AsyncClient, login: Login) -> None:
    auditor = await login("auditor@wuhou.demo")
    first = await client.get("/api/v1/residents", params={"limit": 5}, headers=auditor)
    assert first.status_code == 200 and len(first.json()["items"]) == 5
    second = await client.get(
        "/api/v1/residents", params={"limit": 5, "cursor": first.json()["next_cursor"]}, headers=auditor
    )
    ids = [p["id"] for p in first.json()["items"] + second.json()["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 10


async def test_csv_ledger_export_is_scoped_permissioned_and_audited(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    import csv
    import io

    staff = await login("staff@nanhong.demo")
    response = await client.get("/api/v1/residents/export.csv", headers=staff)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeffid,household_id")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    listed = await all_residents(client, staff)
    assert sorted(int(r["id"]) for r in rows) == sorted(p["id"] for p in listed)
    liu = next(r for r in rows if r["name"] == "刘素珍")
    assert liu["care_categories"] == "elderly_alone" and liu["phone"] == "13800000021"

    logged = (
        await db.execute(text("select after from audit_log where action = 'resident.export' order by id desc limit 1"))
    ).scalar_one()
    assert logged["rows"] == len(rows)
    denied = await client.get("/api/v1/residents/export.csv", headers=await login("grid@mumianling.demo"))
    assert denied.status_code == 403
