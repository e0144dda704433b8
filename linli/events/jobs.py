"""Deadline timers, notification deliveries and the command screen's daily statistics. Each job is
idempotent: deadlines are marked done in the same transaction that escalates, notifications once
delivered are never sent again, the periodic sweeps pick up anything a lost or expired deferred job
left behind, and a day's statistics are rebuilt whole from its events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.cron import CronJob, cron

from linli.events import deadlines, notifications, rollups
from linli.platform.db import SYSTEM_SCOPE, scoped_session


async def events_fire_deadline(ctx: dict[str, Any], deadline_id: int) -> bool:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await deadlines.fire_deadline(session, deadline_id=deadline_id)


async def events_sweep_deadlines(ctx: dict[str, Any]) -> int:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await deadlines.sweep_deadlines(session)


async def events_deliver_notifications(ctx: dict[str, Any], ids: list[int] | None = None) -> tuple[int, int]:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await notifications.deliver_pending(session, ids=ids)


async def events_rollups(ctx: dict[str, Any]) -> int:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await rollups.refresh_rollups(session)


async def events_rollups_rebuild(ctx: dict[str, Any]) -> int:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await rollups.refresh_rollups(session, rebuild=True)


DELIVERY_BATCH = 20


async def events_deliver_pending(ctx: dict[str, Any]) -> tuple[int, int]:
    """Small batches, one transaction each: rows stay locked only while their batch is being sent."""
    delivered = failed = 0
    while True:
        async with scoped_session(SYSTEM_SCOPE) as session:
            ok, bad = await notifications.deliver_pending(session, limit=DELIVERY_BATCH)
        delivered, failed = delivered + ok, failed + bad
        if ok + bad < DELIVERY_BATCH:
            return delivered, failed


JOBS: list[Callable[..., Awaitable[Any]]] = [
    events_fire_deadline,
    events_sweep_deadlines,
    events_deliver_notifications,
    events_deliver_pending,
    events_rollups,
    events_rollups_rebuild,
]
CRON: list[CronJob] = [
    cron(events_sweep_deadlines, second={0}, unique=True, run_at_startup=True),
    cron(events_deliver_pending, second={30}, unique=True),
    # The command screen reads the days before today from the rollup: changes show within half a minute.
    cron(events_rollups, second={15, 45}, unique=True, run_at_startup=True),
    cron(events_rollups_rebuild, hour=3, minute=40, second=0, unique=True),
]
