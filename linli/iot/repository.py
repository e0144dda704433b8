"""Every IoT query of the API role. Devices, alarms, commands, rules and dead letters are RLS-scoped;
telemetry and its rollups are worker-only tables, read here only through `linli_device_telemetry`, which
answers only for a device inside the caller's scopes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot.models import Alarm, AlarmHistory, Command, DeadLetter, Device, RuleOverride, TenantDeviceType
from linli.platform.db import contains_pattern


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
        serial: str | None = None,
    ) -> Sequence[Device]:
        stmt = select(Device).order_by(Device.id).limit(limit)
        if type_code:
            stmt = stmt.where(Device.type_code == type_code)
        if serial:
            stmt = stmt.where(Device.serial.ilike(contains_pattern(serial)))
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

    async def count_under(self, node_path: str) -> int:
        """Registered, not revoked devices at or under the node (as many as the caller may see)."""
        stmt = (
            select(func.count())
            .select_from(Device)
            .where(Device.revoked_at.is_(None), Device.node_path.op("<@")(func.text2ltree(node_path)))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def count_of_type(self, type_code: str, node_path: str) -> int:
        stmt = (
            select(func.count())
            .select_from(Device)
            .where(Device.type_code == type_code, Device.node_path.op("<@")(func.text2ltree(node_path)))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def mark_offline(self, *, at: datetime) -> None:
        """Online devices silent for three of their type's intervals (at least 5 minutes) go offline."""
        await self.session.execute(
            text(
                "update devices d set status = 'offline' from (select code, interval_s, null::ltree as node_path "
                "from device_types union all select code, interval_s, node_path from tenant_device_types) t "
                "where t.code = d.type_code and (t.node_path is null or d.node_path <@ t.node_path) and "
                "d.status = 'online' and d.last_seen_at < :at - make_interval(secs => greatest(3 * t.interval_s, 300))"
            ),
            {"at": at},
        )

    async def refresh_counts(self) -> int:
        """Count the devices of every node that holds some (`node_device_counts`, which the dashboards
        sum); nodes left without devices lose their row. Returns how many nodes hold devices."""
        counted = await self.session.execute(
            text(
                "insert into node_device_counts (node_id, node_path, devices, online, offline, refreshed_at) "
                "select d.node_id, n.node_path, count(*) filter (where d.revoked_at is null), "
                "count(*) filter (where d.revoked_at is null and d.status = 'online'), "
                "count(*) filter (where d.revoked_at is null and d.status = 'offline'), now() "
                "from devices d join nodes n on n.id = d.node_id group by d.node_id, n.node_path "
                "on conflict (node_id) do update set node_path = excluded.node_path, devices = excluded.devices, "
                "online = excluded.online, offline = excluded.offline, refreshed_at = excluded.refreshed_at"
            )
        )
        await self.session.execute(text("delete from node_device_counts where refreshed_at < now()"))
        return int(counted.rowcount)  # type: ignore[attr-defined]


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


class TelemetryReadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def metric_id(self, code: str) -> int | None:
        row = await self.session.execute(text("select id from device_metrics where code = :c"), {"c": code})
        found = row.scalar_one_or_none()
        return None if found is None else int(found)

    async def series(
        self, *, device_id: int, metric_id: int, resolution: str, start: datetime, end: datetime, limit: int
    ) -> Sequence[Row[Any]]:
        """(ts, value, min, max, n) in time order: raw points (no min/max/n) or the `1h`/`1d` rollup."""
        rows = await self.session.execute(
            text("select ts, value, min, max, n from linli_device_telemetry(:d, :m, :r, :s, :e, :l)"),
            {"d": device_id, "m": metric_id, "r": resolution, "s": start, "e": end, "l": limit},
        )
        return rows.all()


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

    async def get(self, command_id: int) -> Command | None:
        return await self.session.get(Command, command_id)

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

    async def specs(self) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
        """Every definition the session may read: the catalog's specs, and (node path, spec) of tenants'."""
        catalog = await self.session.execute(text("select spec from device_types"))
        custom = await self.session.execute(text("select node_path::text, spec from tenant_device_types"))
        return [spec for (spec,) in catalog], [(str(root), spec) for root, spec in custom]

    async def metric_ids(self) -> dict[str, int]:
        rows = await self.session.execute(text("select code, id from device_metrics"))
        return {str(code): int(i) for code, i in rows}

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

    async def all_overrides(self) -> list[tuple[str, str, str, dict[str, Any], bool]]:
        """(node path, type code, rule code, params, enabled) of every override, outermost first."""
        rows = await self.session.execute(
            text("select node_path::text, type_code, rule_code, params, enabled from rules order by nlevel(node_path)")
        )
        return [(str(p), str(t), str(r), dict(params), bool(enabled)) for p, t, r, params, enabled in rows]

    async def covering(self, node_path: str) -> Sequence[RuleOverride]:
        stmt = (
            select(RuleOverride)
            .where(RuleOverride.node_path.op("@>")(func.text2ltree(node_path)))
            .order_by(func.nlevel(RuleOverride.node_path))
        )
        return (await self.session.execute(stmt)).scalars().all()


# Full scale: one statement per type spreads `count` devices over the community's estates.
GENERATE_DEVICES = """
    with p as (
      select cast(:type as text) as type, cast(:prefix as text) as prefix
    ), estates as (
      select e.id, e.code, e.node_path, t.id as tenant_id, t.slug,
             row_number() over (order by e.code) - 1 as k, count(*) over () as n
      from nodes c
      join nodes e on e.node_path <@ c.node_path and e.level = 'estate'
      join lateral (select id, slug from tenants t where t.node_path @> e.node_path
                    order by nlevel(t.node_path) desc limit 1) t on true
      where c.level = 'community' and c.name = :community
    )
    insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, mqtt_username)
    select e.tenant_id, e.id, e.node_path, p.type, format('%s-%s-%s', p.prefix, p.type, g),
           jsonb_build_object('building', format('%s栋', g % 7 + 1), 'unit', format('%s单元', g % 2 + 1),
                              'floor', (g % 33 + 1)::text, 'space', format('%s室', g % 8 + 1)),
           encode(sha256(convert_to(format('%s-%s-%s', p.type, g, gen_random_uuid()), 'UTF8')), 'hex'),
           format('%s.%s-%s-%s', e.slug, p.prefix, p.type, g)
    from p, generate_series(1, cast(:count as int)) g join estates e on e.k = g % e.n
    on conflict (tenant_id, serial) do nothing
"""


class DemoDeviceRepository:
    """Demo and full-scale devices: registry rows without MQTT clients, written in bulk (system scope)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def has_serial(self, *, type_code: str, serial: str) -> bool:
        row = await self.session.execute(
            text("select exists (select 1 from devices where serial = :s and type_code = :t)"),
            {"s": serial, "t": type_code},
        )
        return bool(row.scalar_one())

    async def generate(self, *, community: str, type_code: str, count: int, prefix: str) -> int:
        result = await self.session.execute(
            text(GENERATE_DEVICES), {"community": community, "count": count, "type": type_code, "prefix": prefix}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def first_estates(self, *, community: str, limit: int) -> Sequence[Row[Any]]:
        """The community's first estates by code, with their owning tenant (id, code, path, tenant_id, slug)."""
        rows = await self.session.execute(
            text(
                "select distinct on (e.code) e.id, e.code, e.node_path::text as path, t.id as tenant_id, t.slug "
                "from nodes c join nodes e on e.node_path <@ c.node_path and e.level = 'estate' "
                "join tenants t on t.node_path @> e.node_path "
                "where c.level = 'community' and c.name = :c "
                "order by e.code, nlevel(t.node_path) desc limit :n"
            ),
            {"c": community, "n": limit},
        )
        return rows.all()

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(
            text(
                "insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, "
                "mqtt_username) values (:tenant_id, :node_id, text2ltree(:path), :type, :serial, "
                "cast(:location as jsonb), :token, :username) on conflict (tenant_id, serial) do nothing"
            ),
            list(rows),
        )

    async def community_path(self, name: str) -> str | None:
        row = await self.session.execute(
            text("select node_path::text from nodes where level = 'community' and name = :n"), {"n": name}
        )
        found = row.scalar_one_or_none()
        return None if found is None else str(found)

    async def active_under(self, node_path: str) -> Sequence[Row[Any]]:
        """Devices not revoked under the path: id, slug, serial, type_code, node_path."""
        rows = await self.session.execute(
            text(
                "select d.id, t.slug, d.serial, d.type_code, d.node_path::text as node_path from devices d "
                "join tenants t on t.id = d.tenant_id "
                "where d.node_path <@ text2ltree(:p) and d.revoked_at is null order by d.id"
            ),
            {"p": node_path},
        )
        return rows.all()
