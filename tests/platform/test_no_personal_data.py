"""No personal data in logs or anonymous answers: SQL parameters hidden from errors, request targets
masked in the access log, readiness without exception texts, metrics behind a token."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from linli.platform import health
from linli.platform.db import admin_connection, dispose_engines, get_engine
from linli.platform.logging import masked_target
from linli.platform.settings import get_settings

PHONE = "13812345678"
ID_NUMBER = "51010719900307123X"


async def test_database_errors_do_not_carry_the_statement_parameters(migrated_database: str) -> None:
    async def failing_statement_error(conn: object) -> str:
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text("select :phone, 1 / 0"), {"phone": PHONE + " 张三"})  # type: ignore[attr-defined]
        return str(caught.value)

    try:
        messages = []
        for kind in ("api", "worker"):
            async with get_engine(kind).connect() as conn:
                messages.append(await failing_statement_error(conn))
        async with admin_connection() as conn:
            messages.append(await failing_statement_error(conn))
    finally:
        await dispose_engines()
    for message in messages:
        assert "division by zero" in message and PHONE not in message and "张三" not in message


def test_masked_target() -> None:
    assert masked_target(f"/api/v1/users/{PHONE}", "") == "/api/v1/users/***"
    assert masked_target(f"/lookup/{ID_NUMBER}/x", "") == "/lookup/***/x"
    assert masked_target("/api/v1/events/42", "") == "/api/v1/events/42"
    assert (
        masked_target("/api/v1/residents", f"phone={PHONE}&q=%E5%BC%A0%E4%B8%89&api_key=k3y&limit=5")
        == "/api/v1/residents?phone=***&q=***&api_key=***&limit=***"
    )


async def test_the_request_log_masks_query_values_and_long_numbers(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="linli.http"):
        await client.get("/api/v1/residents", params={"phone": PHONE, "q": "张三", "api_key": "secret-key"})
        await client.get(f"/api/v1/users/{PHONE}")
    logged = [getattr(r, "path", "") for r in caplog.records if r.name == "linli.http"]
    assert logged == ["/api/v1/residents?phone=***&q=***&api_key=***", "/api/v1/users/***"]


async def test_readyz_names_the_failed_dependency_but_not_the_reason(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def redis_down() -> None:
        raise ConnectionError("cannot reach redis://:hunter2@10.0.0.5:6379")

    monkeypatch.setitem(health.CHECKS, "redis", redis_down)
    try:
        response = await client.get("/readyz")
    finally:
        await dispose_engines()
    assert response.status_code == 503
    assert "hunter2" not in response.text and "10.0.0.5" not in response.text
    assert "ConnectionError" not in response.text
    assert response.json()["error"]["details"] == {"database": "ok", "redis": "failed", "broker": "ok"}
    logged = [r for r in caplog.records if r.name == "linli.platform.health" and r.exc_info]
    assert any("hunter2" in str(r.exc_info[1]) for r in logged if r.exc_info)


async def test_metrics_need_the_token(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "metrics_token", "scrape-token")
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"
    right = await client.get("/metrics", headers={"authorization": "Bearer scrape-token"})
    assert right.status_code == 200 and "linli_http_request_duration_seconds_count" in right.text


async def test_production_without_a_metrics_token_has_no_metrics(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "env", "production")
    response = await client.get("/metrics")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
