"""arq jobs: incremental rollups (dirty hours), raw retention (drop_chunks), absence rules, command
acknowledgement deadlines (a deferred job per command, backed by a periodic sweep), the dashboards'
device counts per node. All idempotent."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.cron import CronJob, cron
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import service
from linli.iot.alarms import device_context
from linli.iot.catalog import Override, TypeRegistry, effective_rules, load_overrides, load_types
from linli.iot.repository import DeviceRepository
from linli.iot.worker_repository import AbsenceRepository, RuleStateRepository, TelemetryRepository
from linli.platform.db import SYSTEM_SCOPE, scoped_session

log = logging.getLogger(__name__)
RAW_RETENTION = timedelta(days=30)
SETTLE = timedelta(minutes=1)


async def rollup_dirty(session: AsyncSession, *, settle: timedelta = SETTLE, limit: int = 500) -> int:
    """Recompute the hourly rollup for every dirty hour (late data re-dirties an hour), then the days."""
    repo = TelemetryRepository(session)
    hours = await repo.take_dirty_hours(settle_s=settle.total_seconds(), limit=limit)
    for hour in hours:
        await repo.rebuild_hour(hour)
    for day in sorted({h.astimezone(UTC).replace(hour=0) for h in hours}):
        await repo.rebuild_day(day)
    if hours:
        await repo.advance_watermark("1h", hours[-1])
    return len(hours)


async def drop_old_chunks(session: AsyncSession, *, older_than: timedelta = RAW_RETENTION) -> int:
    repo = TelemetryRepository(session)
    dropped = await repo.drop_raw_older_than(older_than.total_seconds())
    await repo.prune_dedup()
    return dropped


async def check_absence(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Open `absence` alarms for devices silent longer than the rule allows (cleared by the next reading)."""
    at = at or datetime.now(UTC)
    types = await load_types(session)
    overrides = await load_overrides(session)
    opened = 0
    commands = []
    for root, spec in types.definitions():
        if not any(r.kind == "absence" for r in spec.rules):
            continue
        longest = max(r.for_s for r in spec.rules if r.kind == "absence")
        rows = await AbsenceRepository(session).silent_devices(
            type_code=spec.code,
            root=root,
            cutoff=at - timedelta(seconds=min(r.for_s for r in spec.rules if r.kind == "absence")),
        )
        for r in rows:
            device = device_context(r)
            if types.get(device.type_code, device.node_path) is not spec:
                continue
            for rule in effective_rules(spec, device.node_path, overrides):
                if rule.kind != "absence" or rule.activity is not None or at - r.seen < timedelta(seconds=rule.for_s):
                    continue
                alarm_id, cmds = await service.open_alarm(
                    session,
                    device=device,
                    rule=rule,
                    value=None,
                    ts=at,
                    types=types,
                    details={"silent_since": r.seen.isoformat(), "for_s": rule.for_s, "longest": longest},
                )
                if alarm_id is None:
                    continue
                await RuleStateRepository(session).open_silence(
                    device_id=device.id, rule_code=rule.code, at=at, seen=r.seen, alarm_id=alarm_id
                )
                if cmds:
                    commands.extend(cmds)
                opened += 1
    opened += await _check_inactivity(session, types=types, overrides=overrides, at=at, commands=commands)
    await DeviceRepository(session).mark_offline(at=at)
    session.info.setdefault("iot_commands", []).extend(commands)
    return opened


async def _check_inactivity(
    session: AsyncSession,
    *,
    types: TypeRegistry,
    overrides: list[Override],
    at: datetime,
    commands: list[Any],
) -> int:
    """Absence rules on activity (a counter that stopped increasing): the stream keeps the time of the
    last increase in rule_state.since; open the alarm when it is older than the rule allows."""
    opened = 0
    for root, spec in types.definitions():
        rules = [r for r in spec.rules if r.kind == "absence" and r.activity is not None]
        if not rules:
            continue
        rows = await AbsenceRepository(session).inactive_counters(
            type_code=spec.code,
            root=root,
            rule_codes=[r.code for r in rules],
            cutoff=at - timedelta(seconds=min(r.for_s for r in rules)),
        )
        for r in rows:
            device = device_context(r)
            if types.get(device.type_code, device.node_path) is not spec:
                continue
            rule = next((x for x in effective_rules(spec, device.node_path, overrides) if x.code == r.rule_code), None)
            if rule is None or at - r.since < timedelta(seconds=rule.for_s):
                continue
            alarm_id, cmds = await service.open_alarm(
                session,
                device=device,
                rule=rule,
                value=None,
                ts=at,
                types=types,
                details={"no_activity_since": r.since.isoformat(), "for_s": rule.for_s},
            )
            if alarm_id is None:
                continue
            await RuleStateRepository(session).mark_alarm(device_id=device.id, rule_code=rule.code, alarm_id=alarm_id)
            commands.extend(cmds)
            opened += 1
    return opened


# ---------------------------------------------------------------- arq entry points


async def _in_session(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with scoped_session(SYSTEM_SCOPE) as session:
        result = await fn(session)
        commands = session.info.pop("iot_commands", [])
    await service.dispatch_commands(commands)
    return result


async def iot_rollups(ctx: dict[str, Any]) -> int:
    return int(await _in_session(lambda s: rollup_dirty(s)))


async def iot_retention(ctx: dict[str, Any]) -> int:
    return int(await _in_session(lambda s: drop_old_chunks(s)))


async def iot_absence(ctx: dict[str, Any]) -> int:
    return int(await _in_session(lambda s: check_absence(s)))


async def iot_device_counts(ctx: dict[str, Any]) -> int:
    return int(await _in_session(lambda s: service.refresh_device_counts(s)))


async def command_ack_timeout(ctx: dict[str, Any], command_id: int) -> int:
    return int(await _in_session(lambda s: service.expire_commands(s, command_id=command_id)))


async def iot_command_sweep(ctx: dict[str, Any]) -> int:
    return int(await _in_session(lambda s: service.expire_commands(s)))


JOBS: list[Callable[..., Awaitable[Any]]] = [
    iot_rollups,
    iot_retention,
    iot_absence,
    iot_device_counts,
    command_ack_timeout,
    iot_command_sweep,
]
CRON: list[CronJob] = [
    cron(iot_rollups, second={0, 30}, run_at_startup=False, unique=True),
    cron(iot_command_sweep, second={15, 45}, unique=True),
    cron(iot_absence, minute=set(range(0, 60, 5)), second=5, unique=True),
    cron(iot_device_counts, second=50, unique=True, run_at_startup=True),
    cron(iot_retention, hour=3, minute=17, second=0, unique=True),
]
