"""The foundation: health and readiness against the real services, one error shape, metrics, readable
OpenAPI, safe production settings, and an idempotent demo seed."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from typer.testing import CliRunner

from linli.platform.db import dispose_engines
from linli.platform.settings import DEFAULT_SECRET_KEY, SECRET_SETTINGS, Settings
from tests.tenants.support import CachedLogin, superuser


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_checks_database_redis_and_broker(client: httpx.AsyncClient) -> None:
    try:
        response = await client.get("/readyz")
    finally:
        await dispose_engines()  # the check used the app's own engine, bound to this event loop
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "broker": "ok"}}


async def test_readyz_of_an_ingest_http_pod_checks_the_worker_role(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """That pod is given only the worker role's URL (production blanks the API role's): it is ready."""
    from linli.platform import db
    from linli.platform.settings import get_settings

    monkeypatch.setattr(get_settings(), "database_url", "")
    monkeypatch.setattr(db, "_engines", {})
    try:
        response = await client.get("/readyz")
    finally:
        await dispose_engines()
    assert response.status_code == 200, response.text


async def test_readyz_reports_a_service_that_is_down(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linli.platform import health

    async def redis_down() -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setitem(health.CHECKS, "redis", redis_down)
    try:
        response = await client.get("/readyz")
    finally:
        await dispose_engines()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready" and "redis" in error["message"]
    assert error["details"]["database"] == "ok" and error["details"]["redis"].startswith("failed")


async def test_one_error_shape(client: httpx.AsyncClient, login: CachedLogin) -> None:
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found" and missing.json()["error"]["message"]
    wrong_method = await client.put("/healthz")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    headers = await login("admin@wuhou.demo")
    for response in (
        await client.get("/api/v1/nodes", params={"limit": 0}, headers=headers),
        await client.get("/api/v1/nodes/not-a-number", headers=headers),
        await client.post("/api/v1/nodes", json={"parent_id": 1, "name": "x", "node_path": "d1"}, headers=headers),
        await client.post(
            "/api/v1/nodes", content=b"{not json", headers=headers | {"content-type": "application/json"}
        ),
    ):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error" and error["message"].startswith("invalid request")
        assert isinstance(error["details"], list) and error["details"]
    bad_cursor = await client.get("/api/v1/nodes", params={"cursor": "eA"}, headers=headers)
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "bad_cursor"


@pytest.fixture
async def raising_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom-for-test", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as http:
        yield http


async def test_an_unexpected_error_is_a_500_without_internals(raising_client: httpx.AsyncClient) -> None:
    response = await raising_client.get("/boom-for-test")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal server error"}}


async def test_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert re.search(
        r'linli_http_request_duration_seconds_count\{method="GET",route="/healthz",status_class="2xx"\} \d',
        response.text,
    )
    assert "linli_http_request_duration_seconds_bucket" in response.text


def test_operation_ids_are_unique_and_readable() -> None:
    from tests.tenants.test_isolation_matrix import application

    spec = application().openapi()
    ids = [
        (op["operationId"], f"{method.upper()} {path}")
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ids) >= 20
    duplicates = {i for i, _ in ids if [j for j, _ in ids].count(i) > 1}
    assert not duplicates, duplicates
    generated = [
        (i, where)
        for i, where in ids
        if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i)
        or "api_v1" in i
        or re.search(r"_(get|post|put|patch|delete)$", i)
    ]
    assert not generated, generated


def test_every_list_endpoint_returns_a_page() -> None:
    from tests.tenants.test_isolation_matrix import application

    spec = application().openapi()
    schemas = spec["components"]["schemas"]
    lists = 0
    for path, item in spec["paths"].items():
        op = item.get("get")
        if not op or not op["operationId"].startswith("list_"):
            continue
        lists += 1
        content = op["responses"]["200"]["content"]["application/json"]["schema"]
        schema = schemas[content["$ref"].rsplit("/", 1)[-1]] if "$ref" in content else content
        assert set(schema["properties"]) == {"items", "next_cursor"}, path
    assert lists >= 5


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LINLI_* variables (the test harness sets some with development passwords) and no .env file."""
    for name in [n for n in os.environ if n.startswith("LINLI_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir("/")
    return monkeypatch


def refusal(**values: str) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(env="production", **values)  # type: ignore[arg-type]
    message = str(info.value.errors()[0]["msg"])
    assert "\n" not in message
    return message


PRODUCTION_KEY = "k" * 40
DEVELOPMENT_SECRETS = {name: Settings.model_fields[name].default for name in SECRET_SETTINGS}


def test_production_refuses_every_development_secret(bare_environment: pytest.MonkeyPatch) -> None:
    assert "LINLI_SECRET_KEY" in refusal()
    assert "LINLI_SECRET_KEY" in refusal(secret_key=DEFAULT_SECRET_KEY)
    assert "LINLI_SECRET_KEY" in refusal(secret_key="short")
    # Each other secret set to its development value is refused by name ...
    for name, value in DEVELOPMENT_SECRETS.items():
        assert f"LINLI_{name.upper()}" in refusal(secret_key=PRODUCTION_KEY, **{name: value}), name
    # ... so are the development role passwords inside any database URL, and a Redis without a password.
    for name in ("database_url", "worker_database_url", "migrate_database_url"):
        for password in ("linli_api", "linli_worker"):
            url = f"postgresql+psycopg://someone:{password}@db.internal/linli"
            assert f"LINLI_{name.upper()}" in refusal(secret_key=PRODUCTION_KEY, **{name: url})
    assert "LINLI_REDIS_URL" in refusal(secret_key=PRODUCTION_KEY, redis_url="redis://redis.internal:6379/0")
    # A workload that was not given a secret does not fall back to the development value: it has none.
    settings = Settings(
        env="production",
        secret_key=PRODUCTION_KEY,
        database_url="postgresql+psycopg://linli_api:s3cret-api@db.internal/linli",
        redis_url="redis://:s3cret-redis@redis.internal:6379/0",
    )
    assert settings.database_url.endswith("@db.internal/linli")
    assert {name: getattr(settings, name) for name in SECRET_SETTINGS if name not in ("database_url", "redis_url")} == {
        name: "" for name in SECRET_SETTINGS if name not in ("database_url", "redis_url")
    }
    assert Settings(env="development").secret_key == DEFAULT_SECRET_KEY


def test_the_command_names_the_refused_setting_in_one_line(bare_environment: pytest.MonkeyPatch) -> None:
    from linli.cli import app
    from linli.platform.settings import get_settings

    bare_environment.setenv("LINLI_ENV", "production")
    bare_environment.setenv("LINLI_SECRET_KEY", PRODUCTION_KEY)
    bare_environment.setenv("LINLI_MQTT_ADMIN_PASSWORD", DEVELOPMENT_SECRETS["mqtt_admin_password"])
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "LINLI_MQTT_ADMIN_PASSWORD" in result.output, result.output


COUNT_TABLES = """
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> 'alembic_version'
      and c.relname not in ('node_device_counts', 'event_day_rollup')
    order by c.relname
"""
# Left out above: caches the worker (and the seed) recompute from the data, whose row counts follow
# whatever other tests committed meanwhile, not the seed.


def table_counts() -> dict[str, int]:
    with superuser() as conn:
        tables = [r[0] for r in conn.execute(COUNT_TABLES)]
        counts: dict[str, int] = {}
        for table in tables:
            row = conn.execute(f'select count(*) from "{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        for level, count in conn.execute("select level, count(*) from nodes group by level"):
            counts[f"nodes.{level}"] = int(count)
    return counts


def test_seeding_the_demo_twice_changes_nothing(migrated_database: str) -> None:
    """The test database was seeded once by the harness; `linli seed demo` again must add nothing."""
    from linli.cli import app

    before = table_counts()
    assert (before["nodes.district"], before["nodes.street"], before["nodes.community"]) == (2, 21, 97)
    assert before["tenants"] == 4
    result = CliRunner().invoke(app, ["seed", "demo"])
    assert result.exit_code == 0, result.output
    after = table_counts()
    assert after == before
