"""Tenant and identity jobs: deleting the data of offboarded tenants once their grace period has ended,
pruning old sign-in attempts and codes, sending password-reset links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.cron import CronJob, cron

from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.tenants import lifecycle, phone_codes, service


async def purge_offboarded_tenants(ctx: dict[str, Any] | None = None) -> list[str]:
    """Idempotent: a tenant that is already purged is no longer due."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await lifecycle.purge_offboarded(session)


async def prune_login_attempts(ctx: dict[str, Any] | None = None) -> int:
    """Old sign-in attempts and one-time codes."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.prune_login_attempts(session) + await phone_codes.prune(session)


async def tenants_send_password_reset(ctx: dict[str, Any], login: str) -> bool:
    """Run again after a crash, it sends a second link; both work until they expire."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        return await service.send_password_reset(session, login=login)


JOBS: list[Callable[..., Awaitable[Any]]] = [
    purge_offboarded_tenants,
    prune_login_attempts,
    tenants_send_password_reset,
]
CRON: list[CronJob] = [
    cron(purge_offboarded_tenants, hour={3}, minute={17}, run_at_startup=False),
    cron(prune_login_attempts, hour={3}, minute={41}, run_at_startup=False),
]
