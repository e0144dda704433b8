"""LINLI_DATABASE_READ_URL: safe requests run on a read-replica engine, writes and writing reads on the writer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from linli.platform import db
from linli.platform.app import create_app
from linli.platform.settings import get_settings
from tests.conftest import Login

REPLICA_NAME = "linli-read-replica-test"


@pytest.fixture
def replica(monkeypatch: pytest.MonkeyPatch) -> None:
    url = get_settings().database_url
    separator = "&" if "?" in url else "?"
    monkeypatch.setattr(get_settings(), "database_read_url", f"{url}{separator}application_name={REPLICA_NAME}")


def test_without_a_read_url_everything_runs_on_the_writer() -> None:
    assert get_settings().database_read_url is None
    assert db.engine_kind("GET", "list_residents") == "api"


@pytest.mark.usefixtures("replica")
def test_safe_methods_go_to_the_replica_and_writes_and_writing_reads_to_the_writer() -> None:
    assert db.engine_kind("GET", "list_residents") == "api_read"
    assert db.engine_kind("HEAD", "get_me") == "api_read"
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert db.engine_kind(method, "create_resident") == "api"
    # Exports are audited: a GET that writes.
    for operation_id in ("export_residents", "export_tenant", "export_audit_entries"):
        assert db.engine_kind("GET", operation_id) == "api"


@pytest.fixture
async def live(migrated_database: str, replica: None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli.test") as http:
        yield http
    engine = db._engines.pop("api_read", None)
    if engine is not None:
        await engine.dispose()


async def test_a_real_get_reads_through_the_replica_engine_and_a_post_writes_through_the_writer(
    live: httpx.AsyncClient,
) -> None:
    db._engines.pop("api_read", None)
    headers = await Login(live)("staff@mumianling.demo")  # POST /auth/token: the writer
    assert "api_read" not in db._engines
    response = await live.get("/api/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    replica_engine = db._engines["api_read"]
    assert replica_engine.url.query["application_name"] == REPLICA_NAME
    async with replica_engine.connect() as connection:
        name = (await connection.exec_driver_sql("select current_setting('application_name')")).scalar()
    assert name == REPLICA_NAME
