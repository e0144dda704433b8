"""`GET /api/v1/audit/verify`: the chains of the caller's scope, each ok or with its first broken entry,
by the same verification as `linli audit verify`; an auditor of one district never sees another's chains."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tenants.support import LUOHU, WUHOU, CachedLogin, person, superuser


def append_chain(chain: str, rows: int) -> None:
    with superuser() as conn:
        conn.execute("select set_config('linli.scopes', '{\"\"}', false)")
        for n in range(rows):
            conn.execute(
                "select linli_audit_append(%s::ltree, %s::ltree, 'tester', 'district_admin', %s, 'node', %s, "
                "null, %s::jsonb, 'verify-api-test')",
                (chain, chain, f"node.test{n}", str(n), json.dumps({"n": n})),
            )


@pytest.fixture
def chains(migrated_database: str) -> Iterator[dict[str, str]]:
    """A throwaway three-row chain in Wuhou and one in Luohu (committed), removed afterwards."""
    suffix = uuid.uuid4().hex[:10]
    made = {"wuhou": f"{WUHOU}.zzv{suffix}", "luohu": f"{LUOHU}.zzv{suffix}"}
    for chain in made.values():
        append_chain(chain, 3)
    try:
        yield made
    finally:
        with superuser() as conn:
            for chain in made.values():
                conn.execute("delete from audit_log where chain = %s::ltree", (chain,))
                conn.execute("delete from audit_heads where chain = %s::ltree", (chain,))


async def verify(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/audit/verify", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_chain(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["chain"]: c for c in result["chains"]}


async def test_intact_chains_verify_and_a_tampered_one_names_its_first_broken_entry(
    client: httpx.AsyncClient, login: CachedLogin, chains: dict[str, str]
) -> None:
    auditor = await login("auditor@wuhou.demo")
    result = await verify(client, auditor)
    own = by_chain(result)[chains["wuhou"]]
    assert own == {"chain": chains["wuhou"], "rows": 3, "ok": True, "first_broken": None}
    assert all(c["ok"] for c in result["chains"]) and result["ok"]
    assert all(c["chain"].split(".")[0] == WUHOU for c in result["chains"])
    assert sum(c["rows"] for c in result["chains"]) == result["rows"]
    with superuser() as conn:
        conn.execute("update audit_log set action = 'x' where chain = %s::ltree and seq = 2", (chains["wuhou"],))
        try:
            result = await verify(client, auditor)
        finally:
            conn.execute(
                "update audit_log set action = 'node.test1' where chain = %s::ltree and seq = 2", (chains["wuhou"],)
            )
    assert not result["ok"]
    broken = by_chain(result)[chains["wuhou"]]
    assert broken["ok"] is False
    assert broken["first_broken"]["seq"] == 2 and "altered" in broken["first_broken"]["problem"]
    assert [c["chain"] for c in result["chains"] if not c["ok"]] == [chains["wuhou"]]
    # The newest row removed: only the chain's head notices it.
    with superuser() as conn:
        saved = conn.execute(
            "select * from audit_log where chain = %s::ltree and seq = 3", (chains["wuhou"],)
        ).fetchone()
        assert saved is not None
        conn.execute("delete from audit_log where chain = %s::ltree and seq = 3", (chains["wuhou"],))
    result = await verify(client, auditor)
    truncated = by_chain(result)[chains["wuhou"]]
    assert truncated["rows"] == 2
    assert truncated["first_broken"]["seq"] == 3 and "newest rows" in truncated["first_broken"]["problem"]


async def test_an_auditor_verifies_only_the_chains_of_their_own_scope(
    client: httpx.AsyncClient, db: AsyncSession, login: CachedLogin, chains: dict[str, str]
) -> None:
    await person(db, "auditor@luohu.test", "Luohu-audit-2026!", [("auditor", LUOHU)])
    luohu = by_chain(await verify(client, await login("auditor@luohu.test", "Luohu-audit-2026!")))
    wuhou = by_chain(await verify(client, await login("auditor@wuhou.demo")))
    assert chains["luohu"] in luohu and chains["wuhou"] not in luohu
    assert chains["wuhou"] in wuhou and chains["luohu"] not in wuhou
    assert all(c.startswith(LUOHU) for c in luohu)
    # Tampering in Luohu is invisible to (and does not fail) Wuhou's verification.
    with superuser() as conn:
        conn.execute("update audit_log set action = 'x' where chain = %s::ltree and seq = 1", (chains["luohu"],))
        try:
            assert (await verify(client, await login("auditor@wuhou.demo")))["ok"]
            assert (
                by_chain(await verify(client, await login("auditor@luohu.test", "Luohu-audit-2026!")))[chains["luohu"]][
                    "first_broken"
                ]["seq"]
                == 1
            )
        finally:
            conn.execute(
                "update audit_log set action = 'node.test0' where chain = %s::ltree and seq = 1", (chains["luohu"],)
            )
    for account in ("staff@mumianling.demo", "13800000001"):
        response = await client.get("/api/v1/audit/verify", headers=await login(account))
        assert response.status_code == 403, account


async def test_audit_filters_by_actor_subtree_and_time_and_the_export_follows_them(
    client: httpx.AsyncClient, login: CachedLogin, chains: dict[str, str]
) -> None:
    auditor = await login("auditor@wuhou.demo")
    with superuser() as conn:
        district = conn.execute("select id from nodes where node_path = %s::ltree", (WUHOU,)).fetchone()
        street = conn.execute("select min(id) from nodes where node_path ~ %s::lquery", (f"{WUHOU}.*{{1}}",)).fetchone()
    assert district is not None and street is not None
    params = {"actor_id": "tester", "action": "node.test1"}
    items = (await client.get("/api/v1/audit", params=params, headers=auditor)).json()["items"]
    assert [(e["chain"], e["seq"]) for e in items] == [(chains["wuhou"], 2)]
    later = await client.get("/api/v1/audit", params={**params, "since": "2999-01-01T00:00:00Z"}, headers=auditor)
    assert later.json()["items"] == []
    naive = await client.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=auditor)
    assert naive.status_code == 400
    subtree = await client.get("/api/v1/audit", params={**params, "node_id": district[0]}, headers=auditor)
    assert [e["seq"] for e in subtree.json()["items"]] == [2]
    elsewhere = await client.get("/api/v1/audit", params={**params, "node_id": street[0]}, headers=auditor)
    assert elsewhere.json()["items"] == []
    export = await client.get("/api/v1/audit/export", params=params, headers=auditor)
    assert export.status_code == 200
    lines = export.text.strip().splitlines()
    assert len(lines) == 2 and chains["wuhou"] in lines[1]
