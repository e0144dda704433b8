"""Tenant jobs: deleting the data of offboarded tenants once their grace period has ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.cron import CronJob, cron

from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.tenants import lifecycle


async def purge_offboarded_tenants(ctx: dict[str, Any] | None = None) -> list[str]:
    """Idempotent: a tenant that is already purged is no longer due."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await lifecycle.purge_offboarded(session)


JOBS: list[Callable[..., Awaitable[Any]]] = [purge_offboarded_tenants]
CRON: list[CronJob] = [cron(purge_offboarded_tenants, hour={3}, minute={17}, run_at_startup=False)]
