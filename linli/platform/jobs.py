"""Background jobs on arq/Redis. Jobs are enqueued only after the transaction that asked for them
commits, and every job is idempotent (arq may run a job again when a worker dies mid-job).

Jobs and results travel as JSON, never pickle: whoever can write to Redis could otherwise run code in
the worker. Job arguments must already be JSON values (ids, strings; datetimes and UUIDs converted to
text by the caller): anything else fails when it is enqueued, not in the worker."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import after_commit
from linli.platform.metrics import counted_job, serve_metrics
from linli.platform.probes import WORKER_HEALTH_EVERY_S, worker_health_key
from linli.platform.settings import get_settings

_pool: ArqRedis | None = None


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(get_settings().redis_url)


def _exception_text(value: object) -> str:
    # A failed job's result is its exception: stored as text. Nothing else is converted implicitly.
    if isinstance(value, BaseException):
        return repr(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value; convert it before enqueueing")


def serialize(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=_exception_text, ensure_ascii=False).encode()


def deserialize(raw: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data


async def pool() -> ArqRedis:
    global _pool
    if _pool is None:
        _pool = await create_pool(redis_settings(), job_serializer=serialize, job_deserializer=deserialize)
    return _pool


async def enqueue_now(
    function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
) -> None:
    redis = await pool()
    await redis.enqueue_job(function, *args, _job_id=job_id, _defer_until=defer_until)


def enqueue(
    session: AsyncSession,
    function: str,
    *args: Any,
    job_id: str | None = None,
    defer_until: datetime | None = None,
) -> None:
    """Enqueue after the session's transaction commits; nothing is enqueued if it rolls back."""

    async def _send() -> None:
        await enqueue_now(function, *args, job_id=job_id, defer_until=defer_until)

    after_commit(session, _send)


def collect() -> tuple[list[Callable[..., Awaitable[Any]]], list[CronJob]]:
    """The jobs `linli.wiring` lists, with the domains wired (jobs raise alarms and events)."""
    from linli import wiring  # the composition root imports every domain, which import this module

    wiring.wire()
    # Each job counts its outcome (linli_jobs_total); arq still names it by the domain's function.
    functions = [counted_job(f) for f in wiring.JOB_FUNCTIONS]
    crons = [dataclasses.replace(c, coroutine=counted_job(c.coroutine)) for c in wiring.CRON_JOBS]
    return functions, crons


async def _noop(ctx: dict[str, Any]) -> None:
    """A job that does nothing; the worker needs at least one function even before domains add theirs."""


_functions, _crons = collect()


async def _on_startup(ctx: dict[str, Any]) -> None:
    serve_metrics("worker")


class WorkerSettings:
    functions: ClassVar[list[Callable[..., Awaitable[Any]]]] = [*_functions, _noop]
    cron_jobs: ClassVar[list[CronJob]] = _crons
    redis_settings = redis_settings()
    job_serializer = serialize
    job_deserializer = deserialize
    on_startup = _on_startup
    max_tries = 5
    job_timeout = 300
    # The liveness of each worker pod, from its poll loop: read by `linli health worker` (linli/platform/probes.py).
    health_check_interval = WORKER_HEALTH_EVERY_S
    health_check_key = worker_health_key()
