"""Telemetry queries: raw points or rollups of a device the caller sees (`linli_device_telemetry` checks
that again in the database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot.devices import get_device, now
from linli.iot.models import DeadLetter
from linli.iot.repository import DeadLetterRepository, TelemetryReadRepository
from linli.iot.schemas import (
    TelemetryOut,
    TelemetryPoint,
)
from linli.platform.errors import BadRequest, NotFound

RAW_MAX = timedelta(days=2)
HOURLY_MAX = timedelta(days=60)
MAX_POINTS = 10_000


async def query_telemetry(
    session: AsyncSession,
    *,
    device_id: int,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    resolution: str | None = None,
) -> TelemetryOut:
    device = await get_device(session, device_id=device_id)
    end = end or now()
    start = start or end - timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("from and to need a timezone (e.g. 2026-01-01T00:00:00Z)", code="naive_timestamp")
    if start >= end:
        raise BadRequest("from must be before to", code="bad_range")
    repo = TelemetryReadRepository(session)
    metric_id = await repo.metric_id(metric)
    if metric_id is None:
        raise NotFound("metric")
    span = end - start
    chosen = resolution or ("raw" if span <= RAW_MAX else "1h" if span <= HOURLY_MAX else "1d")
    if chosen not in ("raw", "1h", "1d"):
        raise BadRequest("resolution is raw, 1h or 1d", code="bad_resolution")
    rows = await repo.series(
        device_id=device.id, metric_id=metric_id, resolution=chosen, start=start, end=end, limit=MAX_POINTS
    )
    if chosen == "raw":
        points = [TelemetryPoint(ts=r.ts, value=r.value) for r in rows]
    else:
        points = [TelemetryPoint(ts=r.ts, value=r.value, min=r.min, max=r.max, n=r.n) for r in rows]
    return TelemetryOut(device_id=device.id, metric=metric, resolution=chosen, points=points)


async def list_dead_letters(
    session: AsyncSession, *, reason: str | None, device_id: int | None, after_id: int | None, limit: int
) -> Sequence[DeadLetter]:
    return await DeadLetterRepository(session).list(reason=reason, device_id=device_id, after_id=after_id, limit=limit)
