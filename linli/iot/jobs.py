"""arq jobs: incremental rollups (dirty hours), raw retention (drop_chunks), absence rules, command
acknowledgement deadlines (a deferred job per command, backed by a periodic sweep). All idempotent."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.cron import CronJob, cron
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import service
from linli.iot.catalog import Override, TypeRegistry, effective_rules, load_overrides, load_types
from linli.iot.service import DeviceContext
from linli.platform.db import SYSTEM_SCOPE, scoped_session

log = logging.getLogger(__name__)
# Devices under the node a tenant's type is defined at (:root NULL: a catalog type, everywhere).
UNDER_ROOT = "and (cast(:root as text) is null or d.node_path <@ text2ltree(:root))"
RAW_RETENTION = timedelta(days=30)
SETTLE = timedelta(minutes=1)


async def rollup_dirty(session: AsyncSession, *, settle: timedelta = SETTLE, limit: int = 500) -> int:
    """Recompute the hourly rollup for every dirty hour (late data re-dirties an hour), then the days."""
    # The log's rows that settled (rows of batches not yet committed are invisible: they stay for later).
    rows = await session.execute(
        text(
            "delete from rollup_dirty where marked_at < now() - make_interval(secs => :settle) and bucket in "
            "(select distinct bucket from rollup_dirty where marked_at < now() - make_interval(secs => :settle) "
            "order by bucket limit :limit) returning bucket"
        ),
        {"settle": settle.total_seconds(), "limit": limit},
    )
    hours = sorted({r[0] for r in rows})
    for hour in hours:
        await session.execute(
            text("delete from telemetry_1h where bucket = :h"),
            {"h": hour},
        )
        await session.execute(
            text(
                "insert into telemetry_1h (device_id, metric_id, bucket, tenant_id, n, min, max, avg) "
                "select device_id, metric_id, :h, min(tenant_id), count(*), min(value), max(value), avg(value) "
                "from telemetry where ts >= :h and ts < :h + interval '1 hour' group by device_id, metric_id"
            ),
            {"h": hour},
        )
    days = sorted({h.astimezone(UTC).replace(hour=0) for h in hours})
    for day in days:
        await session.execute(text("delete from telemetry_1d where bucket = :d"), {"d": day})
        await session.execute(
            text(
                "insert into telemetry_1d (device_id, metric_id, bucket, tenant_id, n, min, max, avg) "
                "select device_id, metric_id, :d, min(tenant_id), sum(n), min(min), max(max), sum(avg * n) / sum(n) "
                "from telemetry_1h where bucket >= :d and bucket < :d + interval '1 day' group by device_id, metric_id"
            ),
            {"d": day},
        )
    if hours:
        await session.execute(
            text(
                "insert into rollup_watermarks (name, watermark) values ('1h', :w) on conflict (name) "
                "do update set watermark = greatest(rollup_watermarks.watermark, excluded.watermark)"
            ),
            {"w": hours[-1]},
        )
    return len(hours)


async def drop_old_chunks(session: AsyncSession, *, older_than: timedelta = RAW_RETENTION) -> int:
    rows = await session.execute(
        text("select drop_chunks('telemetry', older_than => now() - make_interval(secs => :s))"),
        {"s": older_than.total_seconds()},
    )
    await session.execute(text("delete from ingest_dedup where received_at < now() - interval '7 days'"))
    return len(rows.all())


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
        rows = await session.execute(
            text(
                "select d.id, d.tenant_id, t.slug, d.node_id, d.node_path::text as node_path, d.type_code, d.serial, "
                "d.location, coalesce(d.last_seen_at, d.created_at) as seen from devices d "
                "join tenants t on t.id = d.tenant_id where d.type_code = :t and d.revoked_at is null "
                f"and coalesce(d.last_seen_at, d.created_at) < :cutoff {UNDER_ROOT}"
            ),
            {
                "t": spec.code,
                "root": root,
                "cutoff": at - timedelta(seconds=min(r.for_s for r in spec.rules if r.kind == "absence")),
            },
        )
        for r in rows:
            device = DeviceContext(r.id, r.tenant_id, r.slug, r.node_id, r.node_path, r.type_code, r.serial, r.location)
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
                await session.execute(
                    text(
                        "insert into rule_state (device_id, rule_code, phase, since, last_ts, alarm_id) values "
                        "(:d, :r, 'alarm', :at, :seen, :a) on conflict (device_id, rule_code) do nothing"
                    ),
                    {"d": device.id, "r": rule.code, "at": at, "seen": r.seen, "a": alarm_id},
                )
                if cmds:
                    commands.extend(cmds)
                opened += 1
    opened += await _check_inactivity(session, types=types, overrides=overrides, at=at, commands=commands)
    await session.execute(
        text(
            "update devices d set status = 'offline' from (select code, interval_s, null::ltree as node_path "
            "from device_types union all select code, interval_s, node_path from tenant_device_types) t "
            "where t.code = d.type_code and (t.node_path is null or d.node_path <@ t.node_path) and "
            "d.status = 'online' and d.last_seen_at < :at - make_interval(secs => greatest(3 * t.interval_s, 300))"
        ),
        {"at": at},
    )
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
        rows = await session.execute(
            text(
                "select s.rule_code, s.since, d.id, d.tenant_id, t.slug, d.node_id, d.node_path::text as node_path, "
                "d.type_code, d.serial, d.location from rule_state s join devices d on d.id = s.device_id "
                "join tenants t on t.id = d.tenant_id where d.type_code = :t and s.phase = 'pending' "
                f"and s.rule_code = any(:codes) and s.since < :cutoff and d.revoked_at is null {UNDER_ROOT}"
            ),
            {
                "t": spec.code,
                "root": root,
                "codes": [r.code for r in rules],
                "cutoff": at - timedelta(seconds=min(r.for_s for r in rules)),
            },
        )
        for r in rows:
            device = DeviceContext(r.id, r.tenant_id, r.slug, r.node_id, r.node_path, r.type_code, r.serial, r.location)
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
            await session.execute(
                text("update rule_state set phase = 'alarm', alarm_id = :a where device_id = :d and rule_code = :r"),
                {"a": alarm_id, "d": device.id, "r": rule.code},
            )
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


async def command_ack_timeout(ctx: dict[str, Any], command_id: int) -> int:
    return int(await _in_session(lambda s: service.expire_commands(s, command_id=command_id)))


async def iot_command_sweep(ctx: dict[str, Any]) -> int:
    return int(await _in_session(lambda s: service.expire_commands(s)))


JOBS = [iot_rollups, iot_retention, iot_absence, command_ack_timeout, iot_command_sweep]
CRON: list[CronJob] = [
    cron(iot_rollups, second={0, 30}, run_at_startup=False, unique=True),
    cron(iot_command_sweep, second={15, 45}, unique=True),
    cron(iot_absence, minute=set(range(0, 60, 5)), second=5, unique=True),
    cron(iot_retention, hour=3, minute=17, second=0, unique=True),
]
