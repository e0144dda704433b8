"""Votes end to end: a household votes once (also under concurrent requests), results appear only after
the close, and an anonymous vote's tally cannot be joined back to its voters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import load_user_principal
from linli.platform.db import SYSTEM_SCOPE, apply_scopes, scoped_session, session_factory
from linli.platform.errors import Conflict
from linli.residentapp.context import app_context
from linli.votes import service
from linli.votes.schemas import VoteCreate
from tests.conftest import Login
from tests.residentapp.conftest import RESIDENT, resident_headers
from tests.tenants.support import node_by_name, superuser

APP = "/api/v1/app/mumianling/votes"
STAFF = "staff@mumianling.demo"
SPOUSE = "13800000002"  # 王芳, 李悦's household


def topic(node: int, **extra: object) -> dict[str, object]:
    at = datetime.now(UTC)
    return {
        "node_id": node,
        "service": "party_deliberation",
        "title": "电梯加装方案",
        "options": ["同意", "反对", "弃权"],
        "opens_at": (at - timedelta(minutes=1)).isoformat(),
        "closes_at": (at + timedelta(hours=1)).isoformat(),
    } | extra


async def test_a_household_votes_once_and_results_appear_after_the_close(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login(STAFF)
    community, _ = node_by_name("木棉岭社区")
    created = await client.post("/api/v1/votes", json=topic(community), headers=staff)
    assert created.status_code == 201, created.text
    vote = created.json()
    assert vote["state"] == "open" and vote["results"] is None and vote["ballot_per"] == "household"

    listed = (await client.get(APP, headers=resident)).json()["items"]
    assert [(v["id"], v["voted"]) for v in listed if v["id"] == vote["id"]] == [(vote["id"], False)]
    cast = await client.post(f"{APP}/{vote['id']}/ballot", json={"choice": 0}, headers=resident)
    assert cast.status_code == 201, cast.text
    again = await client.post(f"{APP}/{vote['id']}/ballot", json={"choice": 1}, headers=resident)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_voted"
    spouse = await resident_headers(client, "mumianling", SPOUSE)
    same_household = await client.post(f"{APP}/{vote['id']}/ballot", json={"choice": 1}, headers=spouse)
    assert same_household.status_code == 409 and same_household.json()["error"]["code"] == "already_voted"
    wrong = await client.post(f"{APP}/{vote['id']}/ballot", json={"choice": 7}, headers=spouse)
    assert wrong.status_code == 400

    # Hidden while open, from residents and staff alike.
    seen = (await client.get(f"{APP}/{vote['id']}", headers=spouse)).json()
    assert seen["voted"] is True and seen["results"] is None
    staff_view = (await client.get(f"/api/v1/votes/{vote['id']}", headers=staff)).json()
    assert staff_view["results"] is None and staff_view["turnout"] == 1

    closed = await client.post(f"/api/v1/votes/{vote['id']}/close", headers=staff)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    results = (await client.get(f"{APP}/{vote['id']}", headers=resident)).json()["results"]
    assert [(r["label"], r["count"]) for r in results] == [("同意", 1), ("反对", 0), ("弃权", 0)]
    late = await client.post(f"{APP}/{vote['id']}/ballot", json={"choice": 0}, headers=spouse)
    assert late.status_code == 409 and late.json()["error"]["code"] == "vote_not_open"
    actions = (
        (
            await db.execute(
                text("select action from audit_log where object_type = 'vote' and object_id = :id order by id"),
                {"id": str(vote["id"])},
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["vote.create", "vote.cast", "vote.close"]

    # Someone outside the subtree neither sees nor votes.
    elsewhere = await login("13800000023")
    outside = await client.post(f"/api/v1/app/nanhong/votes/{vote['id']}/ballot", json={"choice": 0}, headers=elsewhere)
    assert outside.status_code == 404


async def test_an_anonymous_tally_cannot_be_joined_to_its_voters(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login(STAFF)
    community, _ = node_by_name("木棉岭社区")
    body = topic(community, anonymous=True, ballot_per="resident", service="com_survey", title="垃圾分类满意度")
    vote = (await client.post("/api/v1/votes", json=body, headers=staff)).json()
    spouse = await resident_headers(client, "mumianling", SPOUSE)
    for headers, choice in ((resident, 1), (spouse, 2)):  # per resident: both members of the household vote
        cast = await client.post(f"{APP}/{vote['id']}/ballot", json={"choice": choice}, headers=headers)
        assert cast.status_code == 201, cast.text

    columns = {
        table: set(
            (
                await db.execute(
                    text("select column_name from information_schema.columns where table_name = :t"), {"t": table}
                )
            ).scalars()
        )
        for table in ("vote_participations", "vote_tallies")
    }
    # Who voted is in one table, what was chosen only as counts in the other: no id, no time, no voter.
    assert columns["vote_participations"] == {"vote_id", "voter_key", "node_path", "choice"}
    assert columns["vote_tallies"] == {"vote_id", "choice", "node_path", "count"}
    await apply_scopes(db, SYSTEM_SCOPE)
    choices = (
        (await db.execute(text("select choice from vote_participations where vote_id = :v"), {"v": vote["id"]}))
        .scalars()
        .all()
    )
    assert choices == [None, None]
    tally = dict(
        (await db.execute(text("select choice, count from vote_tallies where vote_id = :v"), {"v": vote["id"]})).all()
    )
    assert tally == {0: 0, 1: 1, 2: 1}
    audited = (
        (
            await db.execute(
                text("select after from audit_log where action = 'vote.cast' and object_id = :id"),
                {"id": str(vote["id"])},
            )
        )
        .scalars()
        .all()
    )
    assert len(audited) == 2 and all("choice" not in a for a in audited)
    await apply_scopes(db, ())


async def test_concurrent_ballots_of_one_household_count_once() -> None:
    """Needs committed data: separate API-role sessions race for the primary key."""
    community, _ = node_by_name("木棉岭社区")
    marker = f"race-{uuid.uuid4().hex[:8]}"
    async with scoped_session(SYSTEM_SCOPE) as s:
        vote = await service.create_vote(s, actor=None, body=VoteCreate.model_validate(topic(community, title=marker)))
        vote_id = vote.id
        user_id = await s.scalar(text("select id from users where phone = :p"), {"p": RESIDENT})
    try:

        async def ballot() -> str:
            async with session_factory("api")() as s:
                principal = await load_user_principal(s, user_id)
                await apply_scopes(s, principal.scopes)
                ctx = await app_context(s, slug="mumianling", actor=principal)
                try:
                    await service.cast_ballot(s, ctx=ctx, vote_id=vote_id, choice=0)
                    await s.commit()
                    return "counted"
                except Conflict:
                    await s.rollback()
                    return "refused"

        results = await asyncio.gather(*(ballot() for _ in range(8)))
        assert sorted(results) == ["counted"] + ["refused"] * 7
        with superuser() as conn:
            counts = conn.execute("select sum(count) from vote_tallies where vote_id = %s", (vote_id,)).fetchone()
            assert counts is not None and counts[0] == 1
    finally:
        with superuser() as conn:
            for table in ("vote_participations", "vote_tallies"):
                conn.execute(f"delete from {table} where vote_id = %s", (vote_id,))
            conn.execute("delete from votes where id = %s", (vote_id,))
