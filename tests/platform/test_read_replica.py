"""LINLI_DATABASE_READ_URL: safe requests run on a read-replica engine, writes and writing reads on the writer;
every GET that writes is known as one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import db as db_module
from linli.platform.access import get_db_session
from linli.platform.app import create_app
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.tenants.openapi_examples import build_call
from tests.tenants.support import LUOHU, MUMIANLING_ESTATE, node_id, objects_at, tenant_id
from tests.tenants.test_isolation_matrix import MUMIANLING, QUERY_DEFAULTS, Endpoint, application, endpoints, real_ids

REPLICA_NAME = "linli-read-replica-test"


@pytest.fixture
def replica(monkeypatch: pytest.MonkeyPatch) -> None:
    url = get_settings().database_url
    separator = "&" if "?" in url else "?"
    monkeypatch.setattr(get_settings(), "database_read_url", f"{url}{separator}application_name={REPLICA_NAME}")


def test_without_a_read_url_everything_runs_on_the_writer() -> None:
    assert get_settings().database_read_url is None
    assert db_module.engine_kind("GET", "list_residents") == "api"


@pytest.mark.usefixtures("replica")
def test_safe_methods_go_to_the_replica_and_writes_and_writing_reads_to_the_writer() -> None:
    assert db_module.engine_kind("GET", "list_residents") == "api_read"
    assert db_module.engine_kind("HEAD", "get_me") == "api_read"
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert db_module.engine_kind(method, "create_resident") == "api"
    # Exports are audited: a GET that writes.
    for operation_id in ("export_residents", "export_tenant", "export_audit_entries"):
        assert db_module.engine_kind("GET", operation_id) == "api"


@pytest.fixture
async def live(migrated_database: str, replica: None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli.test") as http:
        yield http
    engine = db_module._engines.pop("api_read", None)
    if engine is not None:
        await engine.dispose()


async def test_a_real_get_reads_through_the_replica_engine_and_a_post_writes_through_the_writer(
    live: httpx.AsyncClient,
) -> None:
    db_module._engines.pop("api_read", None)
    headers = await Login(live)("staff@mumianling.demo")  # POST /auth/token: the writer
    assert "api_read" not in db_module._engines
    response = await live.get("/api/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    replica_engine = db_module._engines["api_read"]
    assert replica_engine.url.query["application_name"] == REPLICA_NAME
    async with replica_engine.connect() as connection:
        name = (await connection.exec_driver_sql("select current_setting('application_name')")).scalar()
    assert name == REPLICA_NAME


# ---------------------------------------------------------------- which GETs write


def unit_of_work(dependant: Dependant) -> bool:
    """Whether a route opens the request's unit of work (`DbSession`), the one `engine_kind` places."""
    return dependant.call is get_db_session or any(unit_of_work(d) for d in dependant.dependencies)


def operation_ids() -> dict[str, str | None]:
    """The operation id each GET route carries (what `get_db_session` hands to `engine_kind`), by path."""
    found: dict[str, str | None] = {}
    for context in iter_route_contexts(application().routes):
        if isinstance(context.original_route, APIRoute) and "GET" in (context.methods or ()):
            found[str(context.path)] = context.original_route.operation_id
    return found


# GETs the generated call cannot make succeed yet, with why (to be given real objects; both only read).
NOT_CALLED = {
    "/api/v1/app/{slug}/join/places": "needs the join token an unknown phone's sign-in hands out",
    "/open311/v2/{tenant_slug}/requests/{request_id}.json": "the generated event's item is not public in Open311",
}
GETS = [e for e in endpoints() if e.method == "GET" and unit_of_work(e.dependant) and e.path not in NOT_CALLED]
# Public routes name their tenant by slug and Open311 objects by code or id.
PUBLIC_IDS = {"slug": "mumianling", "tenant_slug": "mumianling", "service_code": "ph_repair_request"}
WRITTEN = text(
    "select relid::regclass::text as relation, n_tup_ins + n_tup_upd + n_tup_del as rows "
    "from pg_stat_xact_user_tables where n_tup_ins + n_tup_upd + n_tup_del > 0"
)


async def rows_written(db: AsyncSession) -> dict[str, int]:
    """Rows this transaction has inserted, updated or deleted so far, by relation."""
    return {r.relation: r.rows for r in (await db.execute(WRITTEN)).mappings()}


def test_the_check_sees_the_routes() -> None:
    paths = {e.path for e in GETS}
    assert {"/api/v1/residents/export.csv", "/api/v1/tenants/{tenant_id}/export", "/api/v1/events"} <= paths
    assert {"/healthz", "/metrics"}.isdisjoint(paths)  # no unit of work there


@pytest.mark.usefixtures("replica")
@pytest.mark.parametrize("endpoint", GETS, ids=str)
async def test_a_get_that_writes_is_sent_to_the_writer(
    endpoint: Endpoint, client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    """Generated from the route list: every GET with a unit of work, called successfully as Luohu's
    administrator on real Mumianling objects, inside the test's transaction. A replica refuses every write,
    so a GET that writes any row (an audit entry, a last-seen time...) must run on the writer, i.e. be in
    `db.WRITING_READS`; and one listed there must write (else the list sends reads to the writer for
    nothing)."""
    headers = await login("admin@luohu.demo")
    objects = await objects_at(db, MUMIANLING_ESTATE)
    known = {"node_id": node_id(MUMIANLING), "tenant_id": tenant_id("mumianling"), "request_id": objects["event_id"]}
    ids = real_ids(endpoint, PUBLIC_IDS | known | objects, LUOHU)
    call = build_call(application().openapi(), endpoint.path, "GET", ids, QUERY_DEFAULTS.get(endpoint.path))
    before = await rows_written(db)
    response = await client.get(call.url, headers=headers, **call.kwargs())
    assert response.status_code == 200, (str(endpoint), call.url, response.text)
    after = await rows_written(db)
    wrote = {
        relation: rows - before.get(relation, 0) for relation, rows in after.items() if rows > before.get(relation, 0)
    }
    kind = db_module.engine_kind("GET", operation_ids()[endpoint.path])
    if wrote:
        assert kind == "api", f"{endpoint} writes {wrote} but would run on the replica: add it to db.WRITING_READS"
    else:
        assert kind == "api_read", f"{endpoint} writes nothing: it need not be in db.WRITING_READS"
