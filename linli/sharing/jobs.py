"""The overdue-loan reminder: hourly, each borrower once per overdue loan (`reminded_at`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.cron import CronJob, cron

from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.sharing import service


async def sharing_remind_overdue(ctx: dict[str, Any]) -> int:
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.remind_overdue(session)


JOBS: list[Callable[..., Awaitable[Any]]] = [sharing_remind_overdue]
CRON: list[CronJob] = [cron(sharing_remind_overdue, minute=5, second=0, unique=True)]
