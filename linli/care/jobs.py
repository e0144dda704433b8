"""arq jobs of the care domain, each idempotent: the not-seen watch (one partial unique index keeps one
open alert per person), visit scheduling (one open visit per person) and overdue escalation (marked once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.cron import CronJob, cron

from linli.care import service
from linli.platform.db import SYSTEM_SCOPE, scoped_session


async def care_watch(ctx: dict[str, Any]) -> tuple[int, int]:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.sweep_not_seen(session)


async def care_visits(ctx: dict[str, Any]) -> tuple[int, int]:
    async with scoped_session(SYSTEM_SCOPE) as session:
        scheduled = await service.schedule_visits(session)
        escalated = await service.escalate_overdue_visits(session)
        return scheduled, escalated


JOBS: list[Callable[..., Awaitable[Any]]] = [care_watch, care_visits]
CRON: list[CronJob] = [
    cron(care_watch, minute=set(range(2, 60, 5)), second=20, unique=True),
    cron(care_visits, minute=7, second=40, unique=True),
]
