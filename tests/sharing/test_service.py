"""Sharing end to end: the community's tool box and a neighbour's drill are borrowed, lent with a due
date and returned; an overdue loan's borrower is reminded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from linli.sharing import service
from tests.conftest import Login
from tests.residentapp.conftest import RESIDENT, resident_headers
from tests.tenants.support import node_by_name

APP = "/api/v1/app/mumianling"
STAFF = "staff@mumianling.demo"
SPOUSE = "13800000002"


def due(days: float = 3) -> dict[str, str]:
    return {"due_at": (datetime.now(UTC) + timedelta(days=days)).isoformat()}


async def test_the_tool_box_lends_reminds_when_overdue_and_takes_back(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login(STAFF)
    community, _ = node_by_name("木棉岭社区")
    kept = await client.post(
        "/api/v1/share-items",
        json={"node_id": community, "service": "prop_tool_box", "title": "冲击钻", "description": "含钻头一套"},
        headers=staff,
    )
    assert kept.status_code == 201, kept.text
    drill = kept.json()
    listed = (await client.get(f"{APP}/share-items", params={"service": "prop_tool_box"}, headers=resident)).json()
    assert drill["id"] in {i["id"] for i in listed["items"]}

    asked = await client.post(f"{APP}/share-items/{drill['id']}/loans", headers=resident)
    assert asked.status_code == 201 and asked.json()["status"] == "requested", asked.text
    loan = asked.json()
    by_borrower = await client.post(f"{APP}/share-loans/{loan['id']}/lend", json=due(), headers=resident)
    assert by_borrower.status_code == 404  # only the owner or staff lend
    past = await client.post(f"/api/v1/share-loans/{loan['id']}/lend", json=due(-1), headers=staff)
    assert past.status_code == 400 and past.json()["error"]["code"] == "bad_due_date"
    lent = await client.post(f"/api/v1/share-loans/{loan['id']}/lend", json=due(3), headers=staff)
    assert lent.status_code == 200 and lent.json()["status"] == "lent" and lent.json()["overdue"] is False
    again = await client.post(
        f"{APP}/share-items/{drill['id']}/loans", headers=await resident_headers(client, "mumianling", SPOUSE)
    )
    assert again.status_code == 201
    twice = await client.post(f"/api/v1/share-loans/{again.json()['id']}/lend", json=due(), headers=staff)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "not_lendable"

    # Four days on, the borrower is reminded once.
    await apply_scopes(db, SYSTEM_SCOPE)
    later = datetime.now(UTC) + timedelta(days=4)
    assert await service.remind_overdue(db, at=later) == 1
    assert await service.remind_overdue(db, at=later) == 0
    inbox = (
        (
            await db.execute(
                text("select title from notifications where kind = 'share_overdue' and payload->>'loan_id' = :l"),
                {"l": str(loan["id"])},
            )
        )
        .scalars()
        .all()
    )
    assert len(inbox) == 1 and "冲击钻" in inbox[0]
    await apply_scopes(db, ())
    mine = (await client.get(f"{APP}/share-loans", headers=resident)).json()["items"]
    assert [m["reminded_at"] is not None for m in mine if m["id"] == loan["id"]] == [True]

    returned = await client.post(f"/api/v1/share-loans/{loan['id']}/return", headers=staff)
    assert returned.status_code == 200 and returned.json()["returned_at"] is not None
    items = (await client.get("/api/v1/share-items", params={"node_id": community}, headers=staff)).json()["items"]
    assert [i["status"] for i in items if i["id"] == drill["id"]] == ["open"]
    back = await client.post(f"/api/v1/share-loans/{loan['id']}/return", headers=staff)
    assert back.status_code == 409
    actions = (
        (
            await db.execute(
                text("select action from audit_log where object_type = 'share_loan' and object_id = :id order by id"),
                {"id": str(loan["id"])},
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["share_loan.request", "share_loan.lend", "share_loan.remind", "share_loan.return"]


async def test_neighbours_lend_each_other_and_only_the_owner_settles(client: httpx.AsyncClient, login: Login) -> None:
    owner, neighbour = await login(RESIDENT), await resident_headers(client, "mumianling", SPOUSE)
    offered = await client.post(
        f"{APP}/share-items", json={"service": "com_item_sharing", "title": "折叠梯", "kind": "offer"}, headers=owner
    )
    assert offered.status_code == 201 and offered.json()["mine"] is True, offered.text
    item = offered.json()
    own = await client.post(f"{APP}/share-items/{item['id']}/loans", headers=owner)
    assert own.status_code == 409 and own.json()["error"]["code"] == "own_item"
    loan = (await client.post(f"{APP}/share-items/{item['id']}/loans", headers=neighbour)).json()
    declined_by_borrower = await client.post(f"{APP}/share-loans/{loan['id']}/decline", headers=neighbour)
    assert declined_by_borrower.status_code == 404
    lent = await client.post(f"{APP}/share-loans/{loan['id']}/lend", json=due(2), headers=owner)
    assert lent.status_code == 200 and lent.json()["due_at"] is not None
    closed = await client.post(f"{APP}/share-items/{item['id']}/close", headers=owner)
    assert closed.status_code == 409  # lent out: it comes back first
    assert (await client.post(f"{APP}/share-loans/{loan['id']}/return", headers=owner)).status_code == 200
    assert (await client.post(f"{APP}/share-items/{item['id']}/close", headers=owner)).json()["status"] == "closed"
    lost = await client.post(
        f"{APP}/share-items", json={"service": "com_lost_found", "title": "钥匙一串", "kind": "found"}, headers=owner
    )
    assert lost.status_code == 201
    asked = await client.post(f"{APP}/share-items/{lost.json()['id']}/loans", headers=neighbour)
    assert asked.status_code == 409 and asked.json()["error"]["code"] == "not_lendable"


async def test_a_request_to_borrow_says_until_when(client: httpx.AsyncClient, login: Login) -> None:
    owner, neighbour = await login(RESIDENT), await resident_headers(client, "mumianling", SPOUSE)
    offered = await client.post(
        f"{APP}/share-items", json={"service": "com_item_sharing", "title": "婴儿推车"}, headers=owner
    )
    assert offered.status_code == 201, offered.text
    loans = f"{APP}/share-items/{offered.json()['id']}/loans"
    past = await client.post(loans, json={"until": datetime.now(UTC).isoformat()}, headers=neighbour)
    assert past.status_code == 409 and past.json()["error"]["code"] == "bad_due_date"
    until = datetime.now(UTC) + timedelta(days=4)
    asked = await client.post(loans, json={"until": until.isoformat()}, headers=neighbour)
    assert asked.status_code == 201, asked.text
    loan = asked.json()
    assert loan["status"] == "requested" and datetime.fromisoformat(loan["due_at"]) == until
    seen = (await client.get(f"{APP}/share-loans", headers=owner)).json()["items"]
    assert [(x["id"], x["overdue"]) for x in seen if x["id"] == loan["id"]] == [(loan["id"], False)]
