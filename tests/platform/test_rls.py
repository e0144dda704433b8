"""Lock 2 alone: PostgreSQL row-level security keeps tenants apart even when the application's own
checks (casbin, `authorize`) are skipped or wrong."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
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

from linli.demo import DEMO_PASSWORD
from linli.platform.access import DbSession, Grant, Principal, current_principal
from linli.platform.db import SET_SCOPES, apply_scopes, scope_signature, scopes_literal
from linli.platform.security import hash_like
from tests.conftest import PG, TEST_DB
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


# ---------------------------------------------------------------------------------------------------
# Lock 2 by behaviour. What the API role may touch at all (exactly the reviewed privileges), and what a
# scoped session sees of every relation with tenant rows (rows of two tenants, only its own visible).

# TimescaleDB's own catalogs (the extension grants some to PUBLIC); its chunks, in _timescaledb_internal,
# are checked like any table.
SKIPPED_SCHEMAS = (
    "pg_catalog",
    "information_schema",
    "_timescaledb_catalog",
    "_timescaledb_config",
    "_timescaledb_cache",
    "_timescaledb_functions",
    "timescaledb_information",
    "timescaledb_experimental",
)
TABLE_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
COLUMN_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "REFERENCES"]
USER_COLUMNS = "created_at, display_name, email, has_password, home_node_path, id, is_active, locale, phone"
# Tables without tenant rows (no node_path, so no scope can apply) that the API role may use: exactly
# these privileges, what the code needs. Never users.password_hash (read and written by definer functions).
GLOBAL_TABLES = {
    "public.care_categories": {"SELECT"},
    "public.device_metrics": {"SELECT"},
    "public.device_types": {"SELECT"},
    "public.event_items": {"SELECT"},
    "public.event_lines": {"SELECT"},
    "public.service_definitions": {"SELECT"},
    "public.users": {
        f"SELECT({USER_COLUMNS})",
        "INSERT(display_name, email, home_node_path, is_active, locale, password_hash, phone)",
        "UPDATE(display_name)",
    },
    "public.refresh_tokens": {"SELECT", "INSERT", "UPDATE(used_at)"},
    "public.user_tokens": {"SELECT", "INSERT"},
    "public.login_attempts": {"SELECT", "INSERT", "DELETE"},
    "public.phone_codes": {"SELECT", "INSERT", "DELETE", "UPDATE(attempts, used_at)"},
    "public.notification_preferences": {"SELECT", "INSERT", "UPDATE(enabled, min_severity, updated_at)"},
}

RELATIONS = """
    select c.oid, format('%%I.%%I', n.nspname, c.relname) as name, c.relkind, c.relrowsecurity,
           c.relforcerowsecurity, pg_get_userbyid(c.relowner) as owner,
           exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'node_path'
                   and not a.attisdropped) as has_node_path,
           (select count(*) from pg_policy p where p.polrelid = c.oid) as policies
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f')
      and n.nspname <> all (%(skipped)s) and n.nspname not like 'pg\\_%%'
      and (n.nspname <> '_timescaledb_internal'
           or exists (select 1 from _timescaledb_catalog.chunk k
                      where k.schema_name = n.nspname and k.table_name = c.relname))
"""
PRIVILEGES_HELD = f"""
    with rel as ({RELATIONS})
    select rel.name, p.privilege, null::name as column_name
    from rel cross join unnest(%(table_privileges)s::text[]) p(privilege)
    where has_table_privilege(%(role)s, rel.oid, p.privilege)
    union all
    select rel.name, p.privilege, a.attname
    from rel join pg_attribute a on a.attrelid = rel.oid and a.attnum > 0 and not a.attisdropped
    cross join unnest(%(column_privileges)s::text[]) p(privilege)
    where not has_table_privilege(%(role)s, rel.oid, p.privilege)
      and has_column_privilege(%(role)s, rel.oid, a.attnum, p.privilege)
"""

SEQUENCES_WITHOUT_INSERT = """
    select s.oid::regclass::text from pg_class s
    join pg_namespace n on n.oid = s.relnamespace and n.nspname <> all (%(skipped)s)
      and n.nspname <> '_timescaledb_internal'
    join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = s.oid and d.deptype in ('a', 'i')
    where s.relkind = 'S' and d.refclassid = 'pg_class'::regclass
      and case when s.relkind = 'S' then has_sequence_privilege(%(role)s, s.oid, 'USAGE, SELECT, UPDATE') end
      and not has_any_column_privilege(%(role)s, d.refobjid, 'INSERT')
"""


def relations(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return {r["name"]: r for r in cur.execute(RELATIONS, {"skipped": list(SKIPPED_SCHEMAS)})}


def privileges_held(conn: psycopg.Connection[Any], role: str = API_ROLE) -> dict[str, set[str]]:
    """{relation: {"SELECT", "UPDATE(used_at)", ...}}: what `role` holds, table-wide or on columns."""
    params = {
        "skipped": list(SKIPPED_SCHEMAS),
        "role": role,
        "table_privileges": TABLE_PRIVILEGES,
        "column_privileges": COLUMN_PRIVILEGES,
    }
    columns: dict[tuple[str, str], list[str]] = {}
    held: dict[str, set[str]] = {}
    for name, privilege, column in conn.execute(PRIVILEGES_HELD, params):
        if column is None:
            held.setdefault(name, set()).add(privilege)
        else:
            columns.setdefault((name, privilege), []).append(column)
    for (name, privilege), names in columns.items():
        held.setdefault(name, set()).add(f"{privilege}({', '.join(sorted(names))})")
    return held


def privilege_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """Every relation the API role holds any privilege on must either carry tenant rows under a FORCEd
    policy, or be a reviewed global table with exactly its reviewed privileges."""
    rels = relations(conn)
    problems: list[str] = []
    held = privileges_held(conn)
    for name, privileges in sorted(held.items()):
        r = rels[name]
        if r["owner"] == API_ROLE:
            problems.append(f"{name}: owned by the API role")
        if name in GLOBAL_TABLES:
            if privileges != GLOBAL_TABLES[name]:
                problems.append(
                    f"{name}: {API_ROLE} holds {sorted(privileges)}, reviewed {sorted(GLOBAL_TABLES[name])}"
                )
        elif not r["has_node_path"]:
            problems.append(f"{name}: {API_ROLE} holds {sorted(privileges)} on a relation no scope can apply to")
        elif r["relkind"] != "v" and not (r["relrowsecurity"] and r["relforcerowsecurity"] and r["policies"]):
            problems.append(f"{name}: tenant rows without FORCEd row-level security and a policy")
    missing = sorted(set(GLOBAL_TABLES) - set(held))
    problems += [f"{name}: reviewed for {API_ROLE} but not granted (update GLOBAL_TABLES)" for name in missing]
    # A sequence only for a table the role inserts into (nextval alone burns ids).
    for (sequence,) in conn.execute(SEQUENCES_WITHOUT_INSERT, {"role": API_ROLE, "skipped": list(SKIPPED_SCHEMAS)}):
        problems.append(f"{sequence}: {API_ROLE} may use the sequence of a table it cannot insert into")
    for role in (API_ROLE, "linli_worker"):
        row = conn.execute("select has_column_privilege(%s, 'users', 'password_hash', 'SELECT')", (role,)).fetchone()
        if row is None or row[0]:
            problems.append(f"{role} may read users.password_hash")
    return problems


def _dummy_value(column: str, type_name: str, path: str) -> str:
    """An SQL expression of `type_name` for a generated row (unique enough for unique constraints)."""
    if type_name.endswith("[]"):
        return "'{}'"
    if type_name == "ltree":
        return f"'{path}'::ltree"
    if type_name in ("smallint", "integer", "bigint"):
        return "(random() * 30000)::int + 100000" if type_name != "smallint" else "(random() * 30000)::int"
    if type_name == "text" or type_name.startswith("character"):
        width = int(m.group(1)) if (m := re.search(r"\((\d+)\)", type_name)) else 32
        return f"left(md5(random()::text), {min(width, 32)})"
    expressions = {
        "uuid": "gen_random_uuid()",
        "timestamp with time zone": "now()",
        "date": "current_date",
        "time without time zone": "'08:00'",
        "boolean": "false",
        "jsonb": "'{}'",
        "double precision": "0",
        "bytea": "''",
    }
    assert type_name in expressions, f"no generated value for {column} {type_name}: add one"
    return expressions[type_name]


def add_row(conn: psycopg.Connection[Any], table: str, path: str) -> None:
    """A row of `table` at `path` (superuser, in the caller's transaction; foreign keys, triggers and
    check constraints are off for it): only where the row lies matters to row-level security."""
    conn.execute("set local session_replication_role = replica")
    for (constraint,) in conn.execute(
        "select conname from pg_constraint where conrelid = %s::regclass and contype = 'c'", (table,)
    ).fetchall():
        conn.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(table), sql.Identifier(constraint)))
    columns = conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
           where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
             and (a.attnotnull or a.attname = 'node_path') and not a.atthasdef
             and a.attidentity = '' and a.attgenerated = ''""",
        (table,),
    ).fetchall()
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
    values = sql.SQL(", ").join(sql.SQL(_dummy_value(c, t, path)) for c, t in columns)  # type: ignore[arg-type]
    conn.execute(sql.SQL("insert into {} ({}) values ({})").format(sql.SQL(table), names, values))


def scope_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """In the caller's transaction: give every relation with tenant rows that the API role can read rows
    in Luohu and in Wuhou, then read each as the API role and as the tables' owner (FORCE) with either
    district's scope. Each must see its own district's rows and nothing else."""
    rels = relations(conn)
    readable = [
        r
        for r in rels.values()
        if r["has_node_path"]
        and conn.execute("select has_column_privilege(%s, %s, 'node_path', 'SELECT')", (API_ROLE, r["oid"])).fetchone()
        == (True,)
    ]
    for r in readable:
        for district in (LUOHU, WUHOU):
            present = conn.execute(
                sql.SQL("select exists (select 1 from {} where node_path <@ %s::ltree)").format(sql.SQL(r["name"])),
                (district,),
            ).fetchone()
            if r["relkind"] in ("r", "p") and present == (False,):
                add_row(conn, r["name"], district)
    problems: list[str] = []
    for role in (API_ROLE, "linli_owner"):
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        for own in (LUOHU, WUHOU):
            set_scopes_raw(conn, [own], role=role)
            for r in readable:
                if role != API_ROLE and r["owner"] != role:
                    continue
                row = conn.execute(
                    sql.SQL(
                        "select count(*) filter (where node_path <@ %s::ltree), "
                        "count(*) filter (where not coalesce(node_path <@ %s::ltree, false)) from {}"
                    ).format(sql.SQL(r["name"])),
                    (own, own),
                ).fetchone()
                assert row is not None
                if row[1]:
                    problems.append(f"{r['name']}: {role} with {own}'s scope sees {row[1]} rows outside it")
                if not row[0] and r["relkind"] in ("r", "p"):
                    problems.append(f"{r['name']}: {role} with {own}'s scope does not see its own rows")
        conn.execute("reset role")
    assert len(readable) >= 20, [r["name"] for r in readable]
    return problems


@contextmanager
def scratch() -> Iterator[psycopg.Connection[Any]]:
    """A superuser transaction that is always rolled back; one telemetry row makes sure a chunk exists."""
    with psycopg.connect(f"postgresql://postgres@{PG}/{TEST_DB}") as conn:
        try:
            conn.execute(
                "insert into telemetry (ts, tenant_id, device_id, metric_id, value) values (now(), 0, 0, 0, 0)"
            )
            yield conn
        finally:
            conn.rollback()


def chunks(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "select format('%I.%I', chunk_schema, chunk_name) from timescaledb_information.chunks "
        "where hypertable_name = 'telemetry'"
    ).fetchall()
    return [r[0] for r in rows]


def test_the_api_role_holds_exactly_the_reviewed_privileges() -> None:
    with scratch() as conn:
        assert chunks(conn)
        assert privilege_problems(conn) == []


def test_every_relation_with_tenant_rows_shows_a_scoped_session_only_its_own() -> None:
    with scratch() as conn:
        assert scope_problems(conn) == []


def test_the_checks_fail_for_a_relation_left_open() -> None:
    """The two checks above can fail: a table without FORCE, a permissive policy, RLS switched off,
    telemetry or one of its chunks granted, password hashes readable."""
    with scratch() as conn:
        chunk = chunks(conn)[0]
        conn.execute("alter table alarms no force row level security")
        conn.execute("create policy everything on devices for select using (true)")
        conn.execute("alter table webhook_endpoints disable row level security")
        problems = "\n".join(scope_problems(conn))
        assert "public.alarms: linli_owner with" in problems
        assert "public.devices: linli_api with" in problems
        assert "public.webhook_endpoints: linli_api with" in problems
        conn.execute("grant select on telemetry to linli_api")
        conn.execute("grant select (password_hash) on users to linli_worker")
        conn.execute("grant usage on sequence device_metrics_id_seq to linli_api")
        problems = "\n".join(privilege_problems(conn))
        assert "public.telemetry: linli_api holds ['SELECT']" in problems
        assert f"{chunk}: linli_api holds ['SELECT']" in problems  # granted with the hypertable
        assert "linli_worker may read users.password_hash" in problems
        assert "device_metrics_id_seq: linli_api may use the sequence" in problems
        assert "public.alarms: tenant rows without FORCEd" in problems
    with scratch() as conn:
        conn.execute(f"grant select on {chunks(conn)[0]} to linli_api")
        assert any(p.startswith(f"{chunks(conn)[0]}: ") for p in privilege_problems(conn))


async def test_the_api_role_neither_reads_nor_writes_password_hashes(api_connection: AsyncConnection) -> None:
    for statement in ("select password_hash from users limit 1", "update users set password_hash = 'x'"):
        savepoint = await api_connection.begin_nested()
        with pytest.raises(DBAPIError) as info:
            await api_connection.execute(text(statement))
        await savepoint.rollback()
        assert "permission denied" in str(info.value), statement
    # It sets one only with a valid token, and an invitation never replaces an existing password.
    issue = text(
        "insert into user_tokens (purpose, token_hash, user_id, expires_at) select :purpose, md5(random()::text), "
        "id, now() + interval '1 hour' from users where email = 'auditor@wuhou.demo' returning id"
    )
    redeem = text("select linli_set_password_by_token(:t, 'forged')")
    for purpose, expected in (("invitation", False), ("reset", True)):
        token = (await api_connection.execute(issue, {"purpose": purpose})).scalar_one()
        assert (await api_connection.execute(redeem, {"t": token})).scalar_one() is expected, purpose
        assert (await api_connection.execute(redeem, {"t": token})).scalar_one() is False  # used
    # The reset stored 'forged', which is no argon2 hash: signing in with it fails, without an error.
    auditor = text("select linli_password_template(id), id from users where email = 'auditor@wuhou.demo'")
    template, auditor_id = (await api_connection.execute(auditor)).one()
    matches = text("select linli_password_matches(:u, :c)")
    candidate = hash_like("forged", template)
    assert (await api_connection.execute(matches, {"u": auditor_id, "c": candidate})).scalar_one() is False
    # It checks a password without seeing the hash: the digest comes back masked.
    row = (
        await api_connection.execute(
            text("select id, linli_password_template(id) from users where email = 'admin@wuhou.demo'")
        )
    ).one()
    with superuser() as conn:
        stored = conn.execute("select password_hash from users where id = %s", (row[0],)).fetchone()
    assert stored is not None and row[1] != stored[0] and row[1].rsplit("$", 1)[0] == stored[0].rsplit("$", 1)[0]
    for password, expected in ((DEMO_PASSWORD, True), ("not-the-password", False)):
        candidate = hash_like(password, row[1])
        assert (await api_connection.execute(matches, {"u": row[0], "c": candidate})).scalar_one() is expected


# SECURITY DEFINER functions the API role may call: each answers only inside the caller's scopes, or
# says here why no scope can apply. A new one fails the test below until it is reviewed and listed.
SCOPED_FUNCTIONS = {
    "linli_audit_append",
    "linli_audit_heads",
    "linli_claim_signature",
    "linli_device_telemetry",
    "linli_device_type_defined",
    "linli_event_dispatch",
    "linli_handler_unit_members",
    "linli_notices_above",
    "linli_tenant_chain",
    "linli_tenant_for_path",
    "linli_webhooks_for_path",
}
UNSCOPED_FUNCTIONS = {
    "linli_principal_grants": "computes the scopes: the grants of the account a signed token names",
    "linli_api_key_lookup": "computes the scopes of an API key from its prefix",
    "linli_password_template": "sign-in, before any scope: a stored hash with its digest masked",
    "linli_password_matches": "sign-in, before any scope: whether a hash of the attempt is the stored one",
    "linli_set_password_by_token": "sets a password only by redeeming a valid invitation or reset token",
    "linli_tenant_by_slug": "public pages: what a tenant's public slug already says",
    "linli_register_metrics": "adds metric names to the global dictionary; reads no tenant data",
    "linli_scopes": "is the scope: returns the stated scopes only when their signature verifies",
}


def test_every_definer_function_the_api_role_may_call_is_reviewed() -> None:
    with superuser() as conn:
        rows = conn.execute(
            "select p.proname from pg_proc p where p.prosecdef and has_function_privilege(%s, p.oid, 'execute')",
            (API_ROLE,),
        ).fetchall()
    assert {r[0] for r in rows} == SCOPED_FUNCTIONS | set(UNSCOPED_FUNCTIONS)


async def definer_answers(conn: AsyncConnection, path: str, unit_id: int, device_id: int) -> dict[str, bool]:
    """Whether each scoped definer function tells anything about `path` (or the unit or device there)."""
    telemetry = (
        "select count(*) > 0 from linli_device_telemetry(:d, (select id from device_metrics where code = 'co_ppm'), "
        "'{resolution}', now() - interval '3 days', now(), 100)"
    )
    queries = {
        "dispatch": "select count(*) > 0 from linli_event_dispatch('ph_repair_request', null, 'community_staff', :p)",
        "unit members": "select count(*) > 0 from linli_handler_unit_members(:u)",
        "tenant": "select tenant_id is not null and writable from linli_tenant_for_path(:p)",
        "webhooks": "select count(*) > 0 from linli_webhooks_for_path(:p)",
        "device type": "select linli_device_type_defined('scoped_meter', :p)",
        "tenant chain": "select count(*) > 0 from linli_tenant_chain(:p)",
        "notices above": "select count(*) > 0 from linli_notices_above(:p, now())",
        **{f"telemetry {r}": telemetry.format(resolution=r) for r in ("raw", "1h", "1d")},
    }
    out = {}
    for name, query in queries.items():
        params = {"p": path, "u": unit_id, "d": device_id}
        out[name] = bool((await conn.execute(text(query.replace(":p", "text2ltree(:p)")), params)).scalar())
    return out


@contextmanager
def readings_of(device_id: int) -> Iterator[None]:
    """Committed raw points and rollups of a device (only the superuser and the worker role may write
    them), removed afterwards."""
    tables = ("telemetry", "telemetry_1h", "telemetry_1d")
    with superuser() as conn:
        metric = "(select id from device_metrics where code = 'co_ppm')"
        conn.execute(
            f"insert into telemetry (ts, tenant_id, device_id, metric_id, value) "
            f"values (now() - interval '1 hour', 0, %s, {metric}, 1)",
            (device_id,),
        )
        for bucket, table in (("hour", "telemetry_1h"), ("day", "telemetry_1d")):
            conn.execute(
                f"insert into {table} (device_id, metric_id, bucket, tenant_id, n, min, max, avg) "
                f"values (%s, {metric}, date_trunc('{bucket}', now() - interval '1 day'), 0, 1, 1, 1, 1)",
                (device_id,),
            )
        try:
            yield
        finally:
            for table in tables:
                conn.execute(f"delete from {table} where device_id = %s", (device_id,))


async def test_definer_functions_tell_nothing_outside_the_callers_scope(api_connection: AsyncConnection) -> None:
    nanhong = f"{WUHOU}.s003.c001"
    with superuser() as conn:
        unit = conn.execute(
            "select u.id from handler_units u join handler_unit_members m on m.handler_unit_id = u.id "
            "where u.node_path <@ %s::ltree order by u.id limit 1",
            (WUHOU,),
        ).fetchone()
    assert unit is not None
    await set_scopes(api_connection, WUHOU)
    await api_connection.execute(
        text("insert into webhook_endpoints (node_id, node_path, url, secret) values (:n, text2ltree(:p), :u, 's')"),
        {"n": node_id(nanhong), "p": nanhong, "u": "https://hooks.example.org/nanhong"},
    )
    await api_connection.execute(
        text(
            "insert into tenant_device_types (tenant_id, node_id, node_path, code, name, name_en, interval_s, spec) "
            "values (:t, :n, text2ltree(:p), 'scoped_meter', 'm', 'm', 60, '{}')"
        ),
        {"t": tenant_id("nanhong"), "n": node_id(nanhong), "p": nanhong},
    )
    device = await api_connection.execute(
        text(
            "insert into devices (tenant_id, node_id, node_path, type_code, serial, token_hash, mqtt_username) "
            "values (:t, :n, text2ltree(:p), 'co_sensor', 'scoped-co', md5(random()::text), md5(random()::text)) "
            "returning id"
        ),
        {"t": tenant_id("nanhong"), "n": node_id(nanhong), "p": nanhong},
    )
    device_id = device.scalar_one()
    await api_connection.execute(
        text(
            "insert into notices (tenant_id, node_id, node_path, service_code, title, status) "
            "values (:t, :n, text2ltree(:p), 'com_announcements', 'scoped', 'published')"
        ),
        {"t": tenant_id("nanhong"), "n": node_id(nanhong), "p": nanhong},
    )
    with readings_of(device_id):
        # Inside Wuhou's scope they answer, so the silence below is the scope's doing.
        assert all((await definer_answers(api_connection, nanhong, unit[0], device_id)).values())
        await set_scopes(api_connection, LUOHU)
        assert not any((await definer_answers(api_connection, nanhong, unit[0], device_id)).values())


async def test_audit_entries_go_only_to_their_own_chain_inside_the_scope(api_connection: AsyncConnection) -> None:
    community = f"{LUOHU}.s005.c001"
    await set_scopes(api_connection, LUOHU)
    append = text(
        "select linli_audit_append(text2ltree(:chain), text2ltree(:path), 'me', 'test', 'x.test', 'x', null, "
        "null, null, null)"
    )
    await api_connection.execute(append, {"chain": community, "path": f"{community}.g01"})
    for chain, path in (
        (LUOHU, f"{community}.g01"),  # a community's entry in the district's chain
        (f"{WUHOU}.s003.c001", f"{community}.g01"),  # or in another tenant's
        (f"{WUHOU}.s003.c001", f"{WUHOU}.s003.c001"),  # an entry outside the scope
    ):
        savepoint = await api_connection.begin_nested()
        with pytest.raises(DBAPIError) as info:
            await api_connection.execute(append, {"chain": chain, "path": path})
        await savepoint.rollback()
        assert "42501" in str(info.value.orig.sqlstate), (chain, path)  # type: ignore[union-attr]
