"""The activities' reminder: hourly, for what starts within the next day (idempotent: once per activity)."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from linli.activities import service
from linli.platform.db import SYSTEM_SCOPE, scoped_session


async def activities_remind(ctx: dict[str, Any]) -> int:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.remind(session)


JOBS = (activities_remind,)
CRON: tuple[CronJob, ...] = (cron(activities_remind, minute={5}, second={0}, unique=True),)
