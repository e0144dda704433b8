"""The bookings' reminder: hourly, for bookings starting within the next day (once per booking)."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from linli.bookings import service
from linli.platform.db import SYSTEM_SCOPE, scoped_session


async def bookings_remind(ctx: dict[str, Any]) -> int:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.remind(session)


JOBS = (bookings_remind,)
CRON: tuple[CronJob, ...] = (cron(bookings_remind, minute={35}, second={0}, unique=True),)
