"""The worker's patrol jobs: making rounds from the plans' schedules, and marking unfinished ones late."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq import cron
from arq.cron import CronJob

from linli.patrol import service
from linli.platform.db import SYSTEM_SCOPE, scoped_session


async def patrol_schedule_rounds(ctx: dict[str, Any] | None = None) -> int:
    """Idempotent: a round a plan already has for a due time is not made again."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.schedule_rounds(session)


async def patrol_sweep_rounds(ctx: dict[str, Any] | None = None) -> int:
    """Idempotent: a round already marked late is not escalated again."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.sweep_rounds(session)


JOBS: list[Callable[..., Awaitable[Any]]] = [patrol_schedule_rounds, patrol_sweep_rounds]
CRON: list[CronJob] = [
    cron(patrol_schedule_rounds, minute={7, 37}, run_at_startup=True),
    cron(patrol_sweep_rounds, minute=set(range(0, 60, 2)), run_at_startup=False),
]
