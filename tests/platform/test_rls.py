"""Lock 2 alone: PostgreSQL row-level security keeps tenants apart even when the application's own
checks (casbin, `authorize`) are skipped or wrong."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from linli.platform.access import DbSession, Grant, Principal, current_principal
from linli.platform.db import SET_SCOPES, apply_scopes, scope_signature, scopes_literal
from linli.platform.rls import POLICY_NAME
from tests.tenants.support import LUOHU, WUHOU, api_role_dsn, node_id, superuser, tenant_id, within

API_ROLE = "linli_api"

# Relations that hold tenant rows: every relation (any schema) with a node_path column.
TENANT_RELATIONS = """
    select n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
           pg_get_userbyid(c.relowner) as owner,
           has_table_privilege(%(role)s, c.oid, 'SELECT') and has_schema_privilege(%(role)s, n.oid, 'USAGE')
             as api_can_read,
           has_table_privilege(%(role)s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
             as api_has_any_privilege
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'node_path' and not a.attisdropped
    where c.relkind in ('r', 'p', 'f', 'v', 'm')
      and n.nspname not in ('pg_catalog', 'information_schema')
    order by n.nspname, c.relname
"""


def tenant_relations() -> list[dict[str, Any]]:
    with superuser() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(TENANT_RELATIONS, {"role": API_ROLE}).fetchall())


def tenant_tables() -> list[str]:
    """Base tables in public (the ones the application queries), quoted."""
    return [f'"{r["relname"]}"' for r in tenant_relations() if r["nspname"] == "public" and r["relkind"] in ("r", "p")]


async def set_scopes(conn: AsyncConnection, *scopes: str) -> None:
    """What the application does: the scopes and their signature for the API role."""
    value = scopes_literal(scopes)
    await conn.execute(SET_SCOPES, {"v": value, "s": scope_signature(API_ROLE, value)})


def set_scopes_raw(conn: psycopg.Connection[Any], scopes: list[str], role: str = API_ROLE) -> None:
    value = scopes_literal(scopes)
    conn.execute(
        "select set_config('linli.scopes', %s, true), set_config('linli.scopes_sig', %s, true)",
        (value, scope_signature(role, value)),
    )


async def test_foreign_scope_sees_no_other_tenant_rows(api_connection: AsyncConnection) -> None:
    """SQL as the API role with Luohu's scope: not one Wuhou row in any tenant-owned table."""
    assert (await api_connection.execute(text("select current_user"))).scalar() == API_ROLE
    await set_scopes(api_connection, LUOHU)
    tables = tenant_tables()
    assert {'"nodes"', '"tenants"', '"role_grants"', '"audit_log"', '"locations"', '"api_keys"'} <= set(tables)
    for table in tables:
        outside = await api_connection.execute(
            text(f"select count(*) from {table} where not node_path <@ text2ltree(:p)"), {"p": LUOHU}
        )
        assert outside.scalar() == 0, table
    # ... while the scope itself works (Luohu's rows are there) and Wuhou's rows exist for real.
    assert (await api_connection.execute(text("select count(*) from nodes"))).scalar_one() > 10
    wuhou_node = node_id(WUHOU)
    row = await api_connection.execute(text("select id from nodes where id = :id"), {"id": wuhou_node})
    assert row.first() is None
    yulin = tenant_id("yulin")
    assert (await api_connection.execute(text("select 1 from tenants where id = :i"), {"i": yulin})).first() is None


async def test_writes_outside_the_scope_are_refused_or_touch_nothing(api_connection: AsyncConnection) -> None:
    await set_scopes(api_connection, LUOHU)
    wuhou_node = node_id(WUHOU)
    updated = await api_connection.execute(text("update nodes set name = 'x' where id = :i"), {"i": wuhou_node})
    assert updated.rowcount == 0
    deleted = await api_connection.execute(text("delete from role_grants where node_path <@ 'd510107'"))
    assert deleted.rowcount == 0
    savepoint = await api_connection.begin_nested()
    with pytest.raises(DBAPIError) as info:
        await api_connection.execute(
            text(
                "insert into locations (node_id, node_path, kind, name) "
                "values (:n, text2ltree(:p), 'building', 'forged')"
            ),
            {"n": wuhou_node, "p": WUHOU},
        )
    await savepoint.rollback()
    assert "row-level security" in str(info.value)
    # Moving a Luohu row into Wuhou is refused by the policy's WITH CHECK too.
    savepoint = await api_connection.begin_nested()
    with pytest.raises(DBAPIError):
        await api_connection.execute(
            text("update locations set node_path = text2ltree(:p) where node_path <@ text2ltree(:l)"),
            {"p": WUHOU, "l": LUOHU},
        )
    await savepoint.rollback()


async def test_no_scope_sees_nothing(api_engine: Any) -> None:
    async with api_engine.connect() as conn:
        assert (await conn.execute(text("select current_setting('linli.scopes', true)"))).scalar() in (None, "")
        for table in tenant_tables():
            assert (await conn.execute(text(f"select count(*) from {table}"))).scalar() == 0, table
        await conn.rollback()


def test_pooled_connection_reused_after_a_scoped_transaction_sees_nothing() -> None:
    """The '' trap: after any `set_config(..., true)`, later transactions on the same connection read
    the setting as '' (not NULL); the policies must treat that as no scope."""
    tables = tenant_tables()
    with psycopg.connect(api_role_dsn()) as conn:
        pid = conn.info.backend_pid
        with conn.transaction():
            set_scopes_raw(conn, [WUHOU])
            row = conn.execute("select count(*) from nodes").fetchone()
            assert row is not None and row[0] > 100
        conn.commit()
        with conn.transaction():
            assert conn.info.backend_pid == pid
            row = conn.execute("select current_setting('linli.scopes', true)").fetchone()
            assert row is not None and row[0] == ""
            for table in tables:
                row = conn.execute(f"select count(*) from {table}").fetchone()
                assert row is not None and row[0] == 0, table


def test_a_role_that_can_run_sql_cannot_forge_a_wider_scope() -> None:
    """SQL as the API role (an injection) sets the scope itself: without the application's signature, or
    with a wrong one, or with the worker role's signature of the system scope, it sees nothing."""
    wider = scopes_literal([""])  # the system scope: every tenant
    forged_signatures = (
        None,
        "0" * 64,
        scope_signature("linli_worker", wider),  # valid, but for another role
        scope_signature(API_ROLE, scopes_literal([LUOHU])),  # valid, but for another scope
    )
    with psycopg.connect(api_role_dsn()) as conn:
        for signature in forged_signatures:
            with conn.transaction():
                conn.execute(
                    "select set_config('linli.scopes', %s, true), set_config('linli.scopes_sig', %s, true)",
                    (wider, signature),
                )
                for table in ("nodes", "tenants", "role_grants", "audit_log"):
                    row = conn.execute(f"select count(*) from {table}").fetchone()
                    assert row is not None and row[0] == 0, (table, signature)
                row = conn.execute("select linli_scopes()").fetchone()
                assert row is not None and row[0] is None
                # Nor can it read the key the signatures are checked with.
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute("select key from linli_scope_key")
        with conn.transaction():
            set_scopes_raw(conn, [LUOHU])
            row = conn.execute("select count(*), count(*) filter (where not node_path <@ %s) from nodes", (LUOHU,))
            assert row.fetchone() == (row_count_of("nodes", LUOHU), 0)


def test_the_worker_role_states_the_system_scope_through_the_same_check() -> None:
    import os

    dsn = os.environ["LINLI_WORKER_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    everything = row_count_of("nodes", "")
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            set_scopes_raw(conn, [""], role="linli_worker")
            assert conn.execute("select count(*) from nodes").fetchone() == (everything,)
        with conn.transaction():
            set_scopes_raw(conn, [""], role=API_ROLE)  # a signature made for another role
            assert conn.execute("select count(*) from nodes").fetchone() == (0,)


def row_count_of(table: str, path: str) -> int:
    with superuser() as conn:
        row = conn.execute(f"select count(*) from {table} where node_path <@ %s::ltree", (path,)).fetchone()
    assert row is not None and row[0] > 0
    return int(row[0])


async def test_pooled_sqlalchemy_session_without_scopes_sees_nothing(migrated_database: str) -> None:
    """The application's own path: one pooled connection, a scoped session, then an unscoped one."""
    import os

    engine = create_async_engine(os.environ["LINLI_DATABASE_URL"], pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine) as session:
            await apply_scopes(session, (LUOHU,))
            pid = (await session.execute(text("select pg_backend_pid()"))).scalar()
            assert (await session.execute(text("select count(*) from nodes"))).scalar_one() > 10
            await session.commit()
        async with AsyncSession(engine) as session:
            assert (await session.execute(text("select pg_backend_pid()"))).scalar() == pid
            for table in tenant_tables():
                assert (await session.execute(text(f"select count(*) from {table}"))).scalar() == 0, table
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Omnipotent(Principal):
    """A principal for which every application check passes: only RLS stands in the way."""

    def can(self, resource: str, action: str, node_path: str) -> bool:
        return True

    def can_anywhere(self, resource: str, action: str) -> bool:
        return True

    def authorize(self, resource: str, action: str, node_path: str, *, what: str = "object") -> None:
        return None


@pytest.fixture
async def casbin_skipped(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Every dependency built by `require` passes and `authorize` never refuses; the database session
    carries Luohu's scope. The principal even claims a grant in Wuhou."""
    wuhou = node_id(WUHOU)

    async def principal(session: DbSession) -> Principal:
        await apply_scopes(session, (LUOHU,))
        return Omnipotent("user", uuid.uuid4(), (Grant("district_admin", wuhou, WUHOU),), "omnipotent")

    app.dependency_overrides[current_principal] = principal
    yield app
    app.dependency_overrides.clear()


async def test_rls_holds_with_casbin_skipped(casbin_skipped: FastAPI, client: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Bearer ignored"}
    wuhou_node = node_id(f"{WUHOU}.s001")
    yulin = tenant_id("yulin")
    for url in (
        f"/api/v1/nodes/{wuhou_node}",
        f"/api/v1/nodes/{wuhou_node}/ancestors",
        f"/api/v1/tenants/{yulin}",
        f"/api/v1/tenants/{yulin}/export",
    ):
        response = await client.get(url, headers=headers)
        assert response.status_code == 404, (url, response.text)
    for method, url, body in (
        ("PATCH", f"/api/v1/nodes/{wuhou_node}", {"name": "hijacked"}),
        ("POST", f"/api/v1/nodes/{wuhou_node}/archive", None),
        ("PATCH", f"/api/v1/tenants/{yulin}", {"settings": {"hijacked": True}}),
        ("POST", f"/api/v1/tenants/{yulin}/offboard", None),
        ("POST", "/api/v1/nodes", {"parent_id": wuhou_node, "name": "forged"}),
    ):
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 404, (method, url, response.text)
    for url in ("/api/v1/nodes", "/api/v1/tenants", "/api/v1/users", "/api/v1/audit", "/api/v1/api-keys"):
        response = await client.get(url, params={"limit": 500}, headers=headers)
        assert response.status_code == 200, (url, response.text)
        items = response.json()["items"]
        paths = [i["node_path"] for i in items]
        assert all(within(p, LUOHU) for p in paths), (url, [p for p in paths if not within(p, LUOHU)][:3])
    nodes = (await client.get("/api/v1/nodes", params={"limit": 500}, headers=headers)).json()["items"]
    assert nodes, "Luohu's own nodes are visible"
    # And nothing was changed in Wuhou.
    with superuser() as conn:
        row = conn.execute("select name from nodes where id = %s", (wuhou_node,)).fetchone()
    assert row is not None and row[0] != "hijacked"


def test_every_tenant_owned_table_forces_rls_with_a_scope_policy() -> None:
    """Fails when a table with a node_path column that the API role has any privilege on lacks RLS,
    FORCE or a policy on linli_scopes()."""
    with superuser() as conn:
        policies: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
        for schema, table, name, cmd, qual, check in conn.execute(
            "select schemaname, tablename, policyname, cmd, qual, with_check from pg_policies"
        ):
            policies.setdefault((schema, table), []).append((name, cmd, qual or "", check or ""))
    problems: list[str] = []
    relations = tenant_relations()
    tables = [r for r in relations if r["relkind"] in ("r", "p", "f")]
    assert len(tables) >= 6
    for r in tables:
        name = f"{r['nspname']}.{r['relname']}"
        if not r["api_has_any_privilege"]:
            # Out of the API role's reach altogether (e.g. a telemetry hypertable that only the worker
            # writes with COPY, which RLS would refuse): lock 2 is the missing privilege itself.
            continue
        if not r["relrowsecurity"]:
            problems.append(f"{name}: row-level security is not enabled")
        if not r["relforcerowsecurity"]:
            problems.append(f"{name}: row-level security is not FORCEd")
        table_policies = policies.get((r["nspname"], r["relname"]), [])
        if not table_policies:
            problems.append(f"{name}: has no policy")
        for policy, cmd, qual, check in table_policies:
            if "linli_scopes()" not in qual:
                problems.append(f"{name}: policy {policy} ({cmd}) does not filter by linli_scopes()")
            if cmd in ("ALL", "INSERT", "UPDATE") and check and "linli_scopes()" not in check:
                problems.append(f"{name}: policy {policy} WITH CHECK does not use linli_scopes()")
        if r["owner"] == API_ROLE:
            problems.append(f"{name}: owned by the API role")
    assert not problems, "\n".join(problems)
    assert any(p[0] == POLICY_NAME for p in policies[("public", "nodes")])


def test_api_role_is_not_privileged() -> None:
    with superuser() as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = %s", (API_ROLE,)
        ).fetchone()
        assert row == (False, False, False, False)
        owned = conn.execute(
            "select c.relname from pg_class c where pg_get_userbyid(c.relowner) = %s", (API_ROLE,)
        ).fetchall()
        assert owned == []
        # Nor may it become a role that is privileged or owns tables (membership allows SET ROLE).
        memberships = conn.execute(
            """with recursive member_of(oid) as (
                 select roleid from pg_auth_members where member = (select oid from pg_roles where rolname = %s)
                 union select m.roleid from pg_auth_members m join member_of on m.member = member_of.oid)
               select r.rolname, r.rolsuper, r.rolbypassrls,
                      exists (select 1 from pg_class c where c.relowner = r.oid)
               from member_of join pg_roles r on r.oid = member_of.oid""",
            (API_ROLE,),
        ).fetchall()
        privileged = [m for m in memberships if m[1] or m[2] or m[3]]
        assert privileged == []
        owned_schemas = conn.execute(
            "select nspname from pg_namespace where pg_get_userbyid(nspowner) = %s", (API_ROLE,)
        ).fetchall()
        assert owned_schemas == []


async def test_api_role_cannot_change_the_audit_log(api_connection: AsyncConnection) -> None:
    await set_scopes(api_connection, WUHOU)
    assert (await api_connection.execute(text("select count(*) from audit_log"))).scalar_one() > 0
    for statement in (
        "update audit_log set action = 'x'",
        "delete from audit_log",
        "truncate audit_log",
        "insert into audit_log (chain, seq, node_path, actor_id, action, object_type, prev_hash, hash) "
        "values ('d510107', 999999, 'd510107', 'me', 'forged', 'x', '', '')",
        "update audit_heads set seq = 0",
        "delete from audit_heads",
        "select * from audit_heads",
    ):
        savepoint = await api_connection.begin_nested()
        with pytest.raises(DBAPIError) as info:
            await api_connection.execute(text(statement))
        await savepoint.rollback()
        assert "permission denied" in str(info.value), statement


def test_relations_readable_by_the_api_role_show_no_foreign_rows() -> None:
    """Empirical check of every relation (also views, materialized views and hypertable chunks) with a
    node_path that the API role can read: with Luohu's scope, not one row outside Luohu."""
    relations = [r for r in tenant_relations() if r["api_can_read"]]
    assert relations
    with psycopg.connect(api_role_dsn()) as conn:
        for r in relations:
            name = sql.Identifier(r["nspname"], r["relname"])
            with conn.transaction():
                set_scopes_raw(conn, [LUOHU])
                row = conn.execute(
                    sql.SQL("select count(*) from {} where not node_path <@ %s::ltree").format(name), (LUOHU,)
                ).fetchone()
                assert row is not None and row[0] == 0, f"{r['nspname']}.{r['relname']} shows rows outside the scope"
            with conn.transaction():
                row = conn.execute(sql.SQL("select count(*) from {}").format(name)).fetchone()
                assert row is not None and row[0] == 0, f"{r['nspname']}.{r['relname']} shows rows without a scope"


def test_worker_role_is_bound_by_rls_and_cannot_change_the_audit_log() -> None:
    """Jobs state their scope explicitly: the worker role is under the same policies."""
    import os

    dsn = os.environ["LINLI_WORKER_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with superuser() as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls, exists (select 1 from pg_class where relowner = r.oid) "
            "from pg_roles r where rolname = 'linli_worker'"
        ).fetchone()
    assert row == (False, False, False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select count(*) from nodes").fetchone()
        assert row is not None and row[0] == 0  # no scope stated: nothing
        for statement in ("update audit_log set action = 'x'", "delete from audit_log", "delete from audit_heads"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
