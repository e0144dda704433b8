"""Liveness, readiness (database, Redis, broker) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from sqlalchemy import text

from linli.platform import broker
from linli.platform.db import get_engine
from linli.platform.settings import get_settings

router = APIRouter(tags=["operations"])


async def _check_database() -> None:
    async with get_engine("api").connect() as conn:
        await conn.execute(text("select 1"))


async def _check_redis() -> None:
    client = Redis.from_url(get_settings().redis_url, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


CHECKS: dict[str, Callable[[], Awaitable[None]]] = {
    "database": _check_database,
    "redis": _check_redis,
    "broker": broker.ping,
}


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz")
async def readyz() -> JSONResponse:
    async def run(check: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(check(), timeout=3)
            return "ok"
        except Exception as exc:
            return f"failed: {type(exc).__name__}: {exc}"[:300]

    results = dict(zip(CHECKS, await asyncio.gather(*(run(c) for c in CHECKS.values())), strict=True))
    failed = [name for name, state in results.items() if state != "ok"]
    if failed:
        body = {
            "error": {
                "code": "not_ready",
                "message": f"not ready: {', '.join(failed)} unavailable",
                "details": results,
            }
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": results})


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
