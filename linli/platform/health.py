"""Liveness, readiness (database, Redis, broker) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from arq.constants import default_queue_name
from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from linli.platform import broker, probes
from linli.platform.errors import NotFound, Unauthenticated
from linli.platform.metrics import JOB_QUEUE_DEPTH
from linli.platform.security import constant_time_equals
from linli.platform.settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


CHECKS: dict[str, Callable[[], Awaitable[None]]] = {
    "database": probes.check_database,
    "redis": probes.check_redis,
    "broker": broker.ping,
}


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz")
async def readyz() -> JSONResponse:
    """Which dependency is down, never why: exception texts name hosts, users and sometimes secrets,
    and this endpoint is anonymous. The reason goes to the server log."""

    async def run(name: str, check: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(check(), timeout=3)
            return "ok"
        except Exception:
            log.warning("readiness check %s failed", name, exc_info=True)
            return "failed"

    results = dict(zip(CHECKS, await asyncio.gather(*(run(n, c) for n, c in CHECKS.items())), strict=True))
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
async def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
    """Behind `LINLI_METRICS_TOKEN` (`Authorization: Bearer <token>`); without a token configured, open
    in development and test only (production answers 404)."""
    settings = get_settings()
    if not settings.metrics_token:
        if settings.env == "production":
            raise NotFound("page")
    elif not constant_time_equals(authorization or "", f"Bearer {settings.metrics_token}"):
        raise Unauthenticated("metrics need the metrics token")
    await _read_queue_depth()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _read_queue_depth() -> None:
    """The arq queue is a sorted set scored by when each job may run: `due` jobs wait for a worker,
    `deferred` ones (deadline timers) for their time. Read here, in the API, so the gauge is current
    even when every worker is down. Best effort: a Redis outage leaves the last values."""
    client = Redis.from_url(get_settings().redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        now_ms = int(time.time() * 1000)
        async with client.pipeline(transaction=False) as pipe:
            pipe.zcount(default_queue_name, "-inf", now_ms)
            pipe.zcount(default_queue_name, f"({now_ms}", "+inf")
            due, deferred = await pipe.execute()
        JOB_QUEUE_DEPTH.labels("due").set(due)
        JOB_QUEUE_DEPTH.labels("deferred").set(deferred)
    except Exception:
        log.warning("could not read the job queue depth", exc_info=True)
    finally:
        await client.aclose()
