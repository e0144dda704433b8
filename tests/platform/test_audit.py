"""The audit log: every mutation is recorded with personal data masked; the hash chains verify and
fail verification after any direct change; auditors read and export it for their scope only."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from linli.platform.audit import mask
from tests.tenants.openapi_examples import build_call
from tests.tenants.support import (
    LUOHU,
    WUHOU,
    CachedLogin,
    all_items,
    nanhong_objects,
    node_by_name,
    node_id,
    not_onboarded_community,
    superuser,
    system_scope,
    within,
)
from tests.tenants.test_isolation_matrix import MUTATIONS, Endpoint, application, wuhou_ids, wuhou_object_in


async def entries_for(db: AsyncSession, request_id: str) -> list[dict[str, Any]]:
    async with system_scope(db):
        rows = await db.execute(
            text(
                "select action, object_type, object_id, node_path::text as node_path, actor_id, actor_role, "
                "before, after, request_id from audit_log where request_id = :r order by id"
            ),
            {"r": request_id},
        )
        return [dict(r) for r in rows.mappings()]


class Recorder:
    """Sends requests with their own request id and returns the audit entries each one wrote."""

    def __init__(self, client: httpx.AsyncClient, db: AsyncSession, headers: dict[str, str]) -> None:
        self.client, self.db, self.headers = client, db, headers

    async def __call__(
        self, method: str, url: str, body: Any = None, status: int = 200
    ) -> tuple[Any, list[dict[str, Any]]]:
        request_id = uuid.uuid4().hex
        response = await self.client.request(
            method, url, json=body, headers=self.headers | {"X-Request-ID": request_id}
        )
        assert response.status_code == status, (method, url, response.text)
        assert response.headers["x-request-id"] == request_id
        return (response.json() if response.content else None), await entries_for(self.db, request_id)


def test_masking() -> None:
    data = {
        "email": "zhang.san@example.org",
        "admin_email": "li@example.org",
        "phone": "13800000001",
        "contact_phone": "13912345678",
        "id_number": "510107199001011234",
        "password": "hunter2hunter2",
        "refresh_token": "abc",
        "name": "木棉岭社区",
        "nested": [{"mobile": "13711112222"}],
        "is_phone_verified": True,
    }
    masked = mask(data)
    assert masked["email"] == "z***@example.org" and masked["admin_email"] == "l***@example.org"
    assert masked["phone"] == "138****0001" and masked["contact_phone"] == "139****5678"
    assert masked["id_number"] == "510***********1234"
    assert masked["password"] == masked["refresh_token"] == "***"
    assert masked["name"] == "木棉岭社区" and masked["nested"] == [{"mobile": "137****2222"}]
    assert masked["is_phone_verified"] is True


async def test_every_mutation_writes_an_audit_row(
    client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    headers = await login("admin@wuhou.demo")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    call = Recorder(client, db, headers)
    street = node_id(f"{WUHOU}.s002")
    other_street = node_id(f"{WUHOU}.s004")
    community, _ = not_onboarded_community(WUHOU)

    node, entries = await call("POST", "/api/v1/nodes", {"parent_id": street, "name": "审计社区"}, 201)
    assert [e["action"] for e in entries] == ["node.create"]
    assert entries[0]["object_id"] == str(node["id"]) and entries[0]["node_path"] == node["node_path"]
    assert (entries[0]["actor_id"], entries[0]["actor_role"]) == (me["id"], "district_admin")
    assert entries[0]["after"]["name"] == "审计社区"
    _, entries = await call("PATCH", f"/api/v1/nodes/{node['id']}", {"name": "审计社区二"})
    assert [e["action"] for e in entries] == ["node.update"]
    assert (entries[0]["before"]["name"], entries[0]["after"]["name"]) == ("审计社区", "审计社区二")
    moved, entries = await call("POST", f"/api/v1/nodes/{node['id']}/move", {"new_parent_id": other_street})
    assert [e["action"] for e in entries] == ["node.move"]
    assert entries[0]["before"]["node_path"] == node["node_path"]
    assert entries[0]["after"]["node_path"] == moved["node_path"] != node["node_path"]
    _, entries = await call("POST", f"/api/v1/nodes/{node['id']}/archive")
    assert [e["action"] for e in entries] == ["node.archive"]

    onboarded, entries = await call(
        "POST", "/api/v1/tenants", {"node_id": community, "slug": "audited", "admin_email": "wang@example.org"}, 201
    )
    assert [e["action"] for e in entries] == ["tenant.onboard"]
    tenant = onboarded["tenant"]["id"]
    _, entries = await call("PATCH", f"/api/v1/tenants/{tenant}", {"settings": {"hotline": "12345"}})
    assert [e["action"] for e in entries] == ["tenant.update"]
    assert entries[0]["after"]["settings"] == {"hotline": "12345"} and entries[0]["before"]["settings"] == {}

    invited, entries = await call(
        "POST",
        "/api/v1/users/invitations",
        {"email": "Zhao.Liu@example.org", "display_name": "赵六", "role": "community_staff", "node_id": community},
        201,
    )
    assert [e["action"] for e in entries] == ["grant.create", "user.invite"]
    assert entries[1]["after"]["email"] == "z***@example.org"
    granted, entries = await call(
        "POST", "/api/v1/grants", {"user_id": invited["user_id"], "role": "grid_worker", "node_id": community}, 201
    )
    assert [e["action"] for e in entries] == ["grant.create"]
    _, entries = await call("DELETE", f"/api/v1/grants/{granted['id']}", status=204)
    assert [e["action"] for e in entries] == ["grant.delete"]
    key, entries = await call(
        "POST", "/api/v1/api-keys", {"name": "12345 热线", "node_id": community, "roles": ["integration"]}, 201
    )
    assert [e["action"] for e in entries] == ["api_key.create"]
    assert key["key"].split("_", 2)[2] not in json.dumps(entries, default=str)
    _, entries = await call("POST", f"/api/v1/api-keys/{key['id']}/revoke")
    assert [e["action"] for e in entries] == ["api_key.revoke"]
    _, entries = await call("POST", f"/api/v1/tenants/{tenant}/offboard")
    assert [e["action"] for e in entries] == ["tenant.offboard"]

    # No personal data in clear anywhere in the log of this test.
    async with system_scope(db):
        rows = (await db.execute(text("select * from audit_log"))).mappings()
        dump = json.dumps([dict(r) for r in rows], default=str)
    for secret in ("wang@example.org", "zhao.liu@example.org", "Zhao.Liu"):
        assert secret not in dump


def successful_mutations() -> list[Endpoint]:
    return MUTATIONS


@pytest.mark.parametrize("endpoint", successful_mutations(), ids=str)
async def test_every_successful_mutation_is_audited_and_a_failed_one_leaves_nothing(
    endpoint: Endpoint, client: httpx.AsyncClient, login: CachedLogin, db: AsyncSession
) -> None:
    """Generated from the route list: a district administrator calls each mutation with a minimal
    valid request on Wuhou objects; whatever succeeds must have written an audit entry for its request,
    whatever failed must have written none."""
    ids = await wuhou_ids(client, login)
    ids["parent_id"] = node_id(f"{WUHOU}.s002")
    ids["new_parent_id"] = node_id(f"{WUHOU}.s004")
    objects = await nanhong_objects(db)
    for param in endpoint.path_params:
        if param not in ids:
            found = objects.get(param, wuhou_object_in(param, path=endpoint.path))
            assert found is not None, f"no Wuhou object for {param}: add one to tests.tenants.support.nanhong_objects"
            ids[param] = found
    request = build_call(application().openapi(), endpoint.path, endpoint.method, ids)
    request_id = uuid.uuid4().hex
    response = await client.request(
        endpoint.method,
        request.url,
        headers=await login("admin@wuhou.demo") | {"X-Request-ID": request_id},
        **request.kwargs(),
    )
    assert response.status_code < 500, response.text
    entries = await entries_for(db, request_id)
    if response.status_code < 400:
        assert entries, f"{endpoint} succeeded ({response.status_code}) without an audit entry"
        assert all(within(e["node_path"], WUHOU) for e in entries)
    else:
        assert entries == [], (str(endpoint), response.text)


async def test_auditors_read_and_export_the_log_of_their_scope_only(
    client: httpx.AsyncClient, login: CachedLogin
) -> None:
    wuhou_admin, luohu_admin = await login("admin@wuhou.demo"), await login("admin@luohu.demo")
    wuhou_node, _ = node_by_name("南虹村社区")
    luohu_node = node_id(f"{LUOHU}.s005.c001")
    assert (
        await client.patch(f"/api/v1/nodes/{wuhou_node}", json={"attrs": {"audited": 1}}, headers=wuhou_admin)
    ).status_code == 200
    assert (
        await client.patch(f"/api/v1/nodes/{luohu_node}", json={"attrs": {"audited": 2}}, headers=luohu_admin)
    ).status_code == 200
    auditor = await login("auditor@wuhou.demo")
    entries = await all_items(client, "/api/v1/audit", auditor)
    assert entries and all(within(e["node_path"], WUHOU) for e in entries)
    updates = [e for e in entries if e["action"] == "node.update"]
    assert [e["object_id"] for e in updates] == [str(wuhou_node)]
    filtered = await all_items(client, "/api/v1/audit", auditor, action="node.update")
    assert [e["id"] for e in filtered] == [e["id"] for e in updates]
    # Paging walks the same entries, newest first.
    paged = await all_items(client, "/api/v1/audit", auditor, limit=3)
    assert [e["id"] for e in paged] == [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    export = await client.get("/api/v1/audit/export", headers=auditor)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["id"] for r in rows} == {str(e["id"]) for e in entries}
    assert all(within(r["node_path"], WUHOU) for r in rows)
    luohu_entries = await all_items(client, "/api/v1/audit", luohu_admin)
    assert str(luohu_node) in {e["object_id"] for e in luohu_entries}
    assert not {e["id"] for e in luohu_entries} & {e["id"] for e in entries}
    for account in ("staff@mumianling.demo", "grid@mumianling.demo", "13800000001"):
        headers = await login(account)
        assert (await client.get("/api/v1/audit", headers=headers)).status_code == 403, account
        assert (await client.get("/api/v1/audit/export", headers=headers)).status_code == 403, account


# ---------------------------------------------------------------------------------------------------
# `linli audit verify` against committed rows: a throwaway chain of our own, removed afterwards.


def verify() -> tuple[int, str]:
    from linli.cli import app

    result = CliRunner().invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


@pytest.fixture
def own_chain(migrated_database: str) -> Iterator[str]:
    chain = f"zzverify{uuid.uuid4().hex[:10]}"
    with superuser() as conn:
        conn.execute("select set_config('linli.scopes', '{\"\"}', false)")
        for n in range(3):
            conn.execute(
                "select linli_audit_append(%s::ltree, %s::ltree, 'tester', 'district_admin', %s, 'node', %s, "
                "null, %s::jsonb, 'verify-test')",
                (chain, chain, f"node.test{n}", str(n), json.dumps({"n": n})),
            )
    try:
        yield chain
    finally:
        with superuser() as conn:
            conn.execute("delete from audit_log where chain = %s::ltree", (chain,))
            conn.execute("delete from audit_heads where chain = %s::ltree", (chain,))


def test_audit_verify_detects_altered_missing_and_truncated_rows(own_chain: str) -> None:
    code, output = verify()
    assert code == 0, output
    assert "every chain intact" in output
    with superuser() as conn:
        conn.execute("update audit_log set action = 'x' where chain = %s::ltree and seq = 2", (own_chain,))
        code, output = verify()
        assert code == 1
        assert f"chain {own_chain} seq 2" in output and "altered" in output
        conn.execute("update audit_log set action = 'node.test1' where chain = %s::ltree and seq = 2", (own_chain,))
        assert verify()[0] == 0
        # A row removed from the middle ...
        saved = conn.execute("select * from audit_log where chain = %s::ltree and seq = 2", (own_chain,)).fetchone()
        assert saved is not None
        conn.execute("delete from audit_log where chain = %s::ltree and seq = 2", (own_chain,))
        code, output = verify()
        assert code == 1 and "missing" in output
        placeholders = ", ".join(["%s"] * len(saved))
        conn.execute(
            f"insert into audit_log values ({placeholders})",
            [Jsonb(v) if isinstance(v, dict | list) else v for v in saved],
        )
        assert verify()[0] == 0
        # ... and the newest row removed: caught by the chain's head.
        conn.execute("delete from audit_log where chain = %s::ltree and seq = 3", (own_chain,))
        code, output = verify()
        assert code == 1
        assert f"chain {own_chain} seq 3" in output and "newest rows" in output
