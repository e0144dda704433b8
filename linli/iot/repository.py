"""Every IoT query. Devices, alarms, commands, rules and dead letters are RLS-scoped; telemetry and its
rollups are worker-only tables, read here only after the caller's access to the device was checked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot.models import Alarm, AlarmHistory, Command, DeadLetter, Device, RuleOverride, TenantDeviceType


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, device_id: int) -> Device | None:
        return await self.session.get(Device, device_id)

    async def by_serial(self, tenant_id: int, serial: str) -> Device | None:
        stmt = select(Device).where(Device.tenant_id == tenant_id, Device.serial == serial)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def serial_taken(self, tenant_id: int, serial: str) -> bool:
        """Unique checks bypass RLS anyway; ask through the worker-visible function-free path."""
        stmt = select(func.count()).select_from(Device).where(Device.tenant_id == tenant_id, Device.serial == serial)
        return bool((await self.session.execute(stmt)).scalar_one())

    async def list(
        self,
        *,
        type_code: str | None,
        node_path: str | None,
        status: str | None,
        after_id: int | None,
        limit: int,
    ) -> Sequence[Device]:
        stmt = select(Device).order_by(Device.id).limit(limit)
        if type_code:
            stmt = stmt.where(Device.type_code == type_code)
        if node_path is not None:
            stmt = stmt.where(Device.node_path.op("<@")(func.text2ltree(node_path)))
        if status == "revoked":
            stmt = stmt.where(Device.revoked_at.is_not(None))
        elif status is not None:
            stmt = stmt.where(Device.revoked_at.is_(None), Device.status == status)
        if after_id is not None:
            stmt = stmt.where(Device.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    def add(self, device: Device) -> None:
        self.session.add(device)

    async def actuators_in_scope(
        self, *, node_id: int, type_code: str, location: dict[str, Any], keys: Sequence[str]
    ) -> Sequence[Row[Any]]:
        conditions = " ".join(f"and d.location->>'{k}' is not distinct from :{k}" for k in keys)
        rows = await self.session.execute(
            text(
                "select d.id, d.serial, d.tenant_id, d.node_path::text as node_path, t.slug from devices d "
                "join tenants t on t.id = d.tenant_id "
                f"where d.node_id = :node_id and d.type_code = :type_code and d.revoked_at is null {conditions} "
                "order by d.id"
            ),
            {"node_id": node_id, "type_code": type_code, **{k: location.get(k) for k in keys}},
        )
        return rows.all()

    async def type_defined(self, type_code: str, node_path: str) -> bool:
        """Is the type the catalog's or one a tenant defined at or above this place (whoever may see it)?"""
        row = await self.session.execute(
            text("select linli_device_type_defined(:c, text2ltree(:p))"), {"c": type_code, "p": node_path}
        )
        return bool(row.scalar_one())

    async def count_of_type(self, type_code: str, node_path: str) -> int:
        stmt = (
            select(func.count())
            .select_from(Device)
            .where(Device.type_code == type_code, Device.node_path.op("<@")(func.text2ltree(node_path)))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def mark_offline(self, *, cutoff_by_type: dict[str, datetime]) -> int:
        total = 0
        for type_code, cutoff in cutoff_by_type.items():
            result = await self.session.execute(
                update(Device)
                .where(
                    Device.type_code == type_code,
                    Device.status == "online",
                    Device.last_seen_at < cutoff,
                    Device.revoked_at.is_(None),
                )
                .values(status="offline")
            )
            total += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return total


class DeadLetterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self, *, reason: str | None, device_id: int | None, after_id: int | None, limit: int
    ) -> Sequence[DeadLetter]:
        stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if reason:
            stmt = stmt.where(DeadLetter.reason == reason)
        if device_id is not None:
            stmt = stmt.where(DeadLetter.device_id == device_id)
        if after_id is not None:
            stmt = stmt.where(DeadLetter.id < after_id)
        return (await self.session.execute(stmt)).scalars().all()


class AlarmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, alarm_id: int) -> Alarm | None:
        return await self.session.get(Alarm, alarm_id)

    async def list(
        self,
        *,
        state: str | None,
        device_id: int | None,
        node_path: str | None,
        after_id: int | None,
        limit: int,
    ) -> Sequence[Alarm]:
        stmt = select(Alarm).order_by(Alarm.id.desc()).limit(limit)
        if state == "active":
            stmt = stmt.where(Alarm.state != "cleared")
        elif state:
            stmt = stmt.where(Alarm.state == state)
        if device_id is not None:
            stmt = stmt.where(Alarm.device_id == device_id)
        if node_path is not None:
            stmt = stmt.where(Alarm.node_path.op("<@")(func.text2ltree(node_path)))
        if after_id is not None:
            stmt = stmt.where(Alarm.id < after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def history(self, alarm_id: int) -> Sequence[AlarmHistory]:
        stmt = select(AlarmHistory).where(AlarmHistory.alarm_id == alarm_id).order_by(AlarmHistory.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def open_once(self, values: dict[str, Any]) -> int | None:
        """Insert an alarm unless one is already active for the device and rule; returns the new id."""
        row = await self.session.execute(
            text(
                "insert into alarms (tenant_id, device_id, node_id, node_path, rule_code, kind, severity, event_item, "
                "value, opened_at, details) values (:tenant_id, :device_id, :node_id, text2ltree(:node_path), "
                ":rule_code, :kind, :severity, :event_item, :value, :opened_at, cast(:details as jsonb)) "
                "on conflict (device_id, rule_code) where state <> 'cleared' do nothing returning id"
            ),
            values,
        )
        found = row.scalar_one_or_none()
        return None if found is None else int(found)

    async def active_id(self, device_id: int, rule_code: str) -> int | None:
        row = await self.session.execute(
            select(Alarm.id).where(Alarm.device_id == device_id, Alarm.rule_code == rule_code, Alarm.state != "cleared")
        )
        found = row.scalar_one_or_none()
        return None if found is None else int(found)

    async def clear(self, alarm_id: int, *, at: datetime, value: float | None) -> str | None:
        row = await self.session.execute(
            text(
                "update alarms set state = 'cleared', cleared_at = :at where id = :id and state <> 'cleared' "
                "returning node_path::text"
            ),
            {"id": alarm_id, "at": at},
        )
        found = row.scalar_one_or_none()
        return None if found is None else str(found)

    async def add_history(
        self,
        *,
        alarm_id: int,
        node_path: str,
        action: str,
        actor: str = "system",
        value: float | None = None,
        note: str | None = None,
    ) -> None:
        await self.session.execute(
            text(
                "insert into alarm_history (alarm_id, node_path, action, actor, value, note) "
                "values (:a, text2ltree(:p), :action, :actor, :v, :note)"
            ),
            {"a": alarm_id, "p": node_path, "action": action, "actor": actor, "v": value, "note": note},
        )

    async def escalate(self, alarm_id: int) -> str | None:
        row = await self.session.execute(
            text(
                "update alarms set escalation_level = escalation_level + 1, escalated_at = now() "
                "where id = :id and state <> 'cleared' returning node_path::text"
            ),
            {"id": alarm_id},
        )
        found = row.scalar_one_or_none()
        return None if found is None else str(found)


class CommandRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_for_device(self, device_id: int, *, after_id: int | None, limit: int) -> Sequence[Command]:
        stmt = select(Command).where(Command.device_id == device_id).order_by(Command.id.desc()).limit(limit)
        if after_id is not None:
            stmt = stmt.where(Command.id < after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def create(self, values: dict[str, Any]) -> int:
        row = await self.session.execute(
            text(
                "insert into commands (tenant_id, device_id, node_path, alarm_id, command, args, ack_deadline) "
                "values (:tenant_id, :device_id, text2ltree(:node_path), :alarm_id, :command, cast(:args as jsonb), "
                "now() + make_interval(secs => :timeout)) returning id"
            ),
            values,
        )
        return int(row.scalar_one())

    async def mark_sent(self, ids: Sequence[int]) -> None:
        await self.session.execute(
            text("update commands set status = 'sent', sent_at = now() where id = any(:ids) and status = 'pending'"),
            {"ids": list(ids)},
        )

    async def acknowledge(self, *, command_id: int, device_id: int, ok: bool, result: str | None) -> bool:
        row = await self.session.execute(
            text(
                "update commands set status = :status, acked_at = now(), result = cast(:result as jsonb) "
                "where id = :id and device_id = :device and status in ('pending', 'sent') returning id"
            ),
            {"status": "acked" if ok else "failed", "result": result, "id": command_id, "device": device_id},
        )
        return row.first() is not None

    async def expire(self, *, command_id: int | None = None) -> list[tuple[int, int | None]]:
        """Time out commands past their deadline (one, or all); returns (id, alarm_id) of those changed."""
        where = "and id = :id" if command_id is not None else ""
        rows = await self.session.execute(
            text(
                "update commands set status = 'timeout' where status in ('pending', 'sent') "
                f"and ack_deadline <= now() {where} returning id, alarm_id"
            ),
            {"id": command_id},
        )
        return [(int(r[0]), None if r[1] is None else int(r[1])) for r in rows]


class DeviceTypeRepository:
    """The catalog's types (global) and the tenants' own (RLS: in scope, or defined above it)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def catalog(self, code: str | None = None) -> Sequence[Row[Any]]:
        rows = await self.session.execute(
            text("select code, spec from device_types where cast(:code as text) is null or code = :code order by code"),
            {"code": code},
        )
        return rows.all()

    async def around(self, node_path: str, code: str | None = None) -> Sequence[TenantDeviceType]:
        """Tenant types that apply at the node (defined at or above it) or are defined below it."""
        path = func.text2ltree(node_path)
        stmt = (
            select(TenantDeviceType)
            .where(TenantDeviceType.node_path.op("@>")(path) | TenantDeviceType.node_path.op("<@")(path))
            .order_by(TenantDeviceType.code, TenantDeviceType.id)
        )
        if code is not None:
            stmt = stmt.where(TenantDeviceType.code == code)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, type_id: int) -> TenantDeviceType | None:
        return await self.session.get(TenantDeviceType, type_id)

    async def add(self, row: TenantDeviceType) -> TenantDeviceType:
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return row

    async def delete(self, row: TenantDeviceType) -> None:
        await self.session.delete(row)
        await self.session.flush()

    async def register_metrics(self, *, tenant_id: int, codes: Sequence[str], limit: int) -> tuple[int, int]:
        """Add the codes not known yet, credited to the tenant, unless that takes it over `limit` (then
        nothing is added). Returns (codes the tenant introduced before, codes missing now)."""
        row = await self.session.execute(
            text("select introduced, missing from linli_register_metrics(:t, cast(:c as text[]), :l)"),
            {"t": tenant_id, "c": list(codes), "l": limit},
        )
        introduced, missing = row.one()
        return int(introduced), int(missing)

    async def event_items_missing(self, codes: Sequence[str]) -> list[str]:
        rows = await self.session.execute(
            text("select c from unnest(cast(:c as text[])) c where c not in (select code from event_items)"),
            {"c": list(codes)},
        )
        return sorted(rows.scalars().all())


class RuleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, values: dict[str, Any]) -> RuleOverride:
        row = await self.session.execute(
            text(
                "insert into rules (tenant_id, node_id, node_path, type_code, rule_code, params, enabled) values "
                "(:tenant_id, :node_id, text2ltree(:node_path), :type_code, :rule_code, cast(:params as jsonb), "
                ":enabled) on conflict (node_id, type_code, rule_code) do update set params = excluded.params, "
                "enabled = excluded.enabled, updated_at = now() returning id"
            ),
            values,
        )
        rule = await self.session.get(RuleOverride, int(row.scalar_one()), populate_existing=True)
        assert rule is not None
        return rule

    async def delete_for_type(self, type_code: str, node_path: str) -> None:
        await self.session.execute(
            text("delete from rules where type_code = :t and node_path <@ text2ltree(:p)"),
            {"t": type_code, "p": node_path},
        )

    async def covering(self, node_path: str) -> Sequence[RuleOverride]:
        stmt = (
            select(RuleOverride)
            .where(RuleOverride.node_path.op("@>")(func.text2ltree(node_path)))
            .order_by(func.nlevel(RuleOverride.node_path))
        )
        return (await self.session.execute(stmt)).scalars().all()


class TelemetryRepository:
    """Worker-only tables: call with a worker-engine session, after checking access to the device."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def metric_id(self, code: str) -> int | None:
        row = await self.session.execute(text("select id from device_metrics where code = :c"), {"c": code})
        found = row.scalar_one_or_none()
        return None if found is None else int(found)

    async def raw(self, *, device_id: int, metric_id: int, start: datetime, end: datetime, limit: int) -> list[Any]:
        rows = await self.session.execute(
            text(
                "select ts, value from telemetry where device_id = :d and metric_id = :m and ts >= :s and ts < :e "
                "order by ts limit :l"
            ),
            {"d": device_id, "m": metric_id, "s": start, "e": end, "l": limit},
        )
        return list(rows.all())

    async def rollup(
        self, *, table: str, device_id: int, metric_id: int, start: datetime, end: datetime, limit: int
    ) -> list[Any]:
        assert table in ("telemetry_1h", "telemetry_1d")
        rows = await self.session.execute(
            text(
                f"select bucket as ts, avg as value, min, max, n from {table} where device_id = :d and "
                "metric_id = :m and bucket >= :s and bucket < :e order by bucket limit :l"
            ),
            {"d": device_id, "m": metric_id, "s": start, "e": end, "l": limit},
        )
        return list(rows.all())

    async def latest(self, device_id: int) -> list[Any]:
        rows = await self.session.execute(
            text(
                "select m.code, l.ts, l.value from telemetry_latest l join device_metrics m on m.id = l.metric_id "
                "where l.device_id = :d order by m.code"
            ),
            {"d": device_id},
        )
        return list(rows.all())
