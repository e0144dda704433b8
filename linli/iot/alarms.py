"""Alarms: opened by the rules (with their linkage commands), cleared, acknowledged; read by the API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import broker
from linli.iot.catalog import RuleSpec, TypeRegistry
from linli.iot.commands import PendingCommand
from linli.iot.devices import LOCATION_KEYS, now
from linli.iot.models import Alarm, AlarmHistory
from linli.iot.repository import (
    AlarmRepository,
    CommandRepository,
    DeviceRepository,
)
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import Conflict
from linli.platform.hierarchy.service import NodeService

SCOPE_KEYS = {
    "same_space": LOCATION_KEYS,
    "same_floor": ("building", "unit", "floor"),
    "same_unit": ("building", "unit"),
    "same_building": ("building",),
    "same_node": (),
}


@dataclass(frozen=True)
class AlarmOpened:
    alarm_id: int
    device_id: int
    tenant_id: int
    node_id: int
    node_path: str
    location: dict[str, Any]
    rule_code: str
    event_item: str | None
    severity: str
    value: float | None
    ts: datetime
    device_type: str = ""
    serial: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


AlarmOpenedHandler = Callable[[AsyncSession, AlarmOpened], Awaitable[None]]
# Called inside the transaction that opens the alarm (the events domain's); filled by `linli.wiring`.
ALARM_OPENED_HANDLERS: list[AlarmOpenedHandler] = []


@dataclass
class DeviceContext:
    """What the rules engine needs to know about a device (filled by the ingest registry)."""

    id: int
    tenant_id: int
    tenant_slug: str
    node_id: int
    node_path: str
    type_code: str
    serial: str
    location: dict[str, Any]
    gateway: bool = False  # the registration's flag (the type's is in its TypeSpec)


def device_context(r: Any) -> DeviceContext:
    """From a row with the columns of `worker_repository.DEVICE_COLUMNS`."""
    return DeviceContext(
        r.id, r.tenant_id, r.slug, r.node_id, r.node_path, r.type_code, r.serial, r.location, r.gateway
    )


async def open_alarm(
    session: AsyncSession,
    *,
    device: DeviceContext,
    rule: RuleSpec,
    value: float | None,
    ts: datetime,
    types: TypeRegistry,
    details: dict[str, Any] | None = None,
) -> tuple[int | None, list[PendingCommand]]:
    """Open the rule's alarm unless one is active, run the handlers and create the linkage commands."""
    alarms = AlarmRepository(session)
    alarm_id = await alarms.open_once(
        {
            "tenant_id": device.tenant_id,
            "device_id": device.id,
            "node_id": device.node_id,
            "node_path": device.node_path,
            "rule_code": rule.code,
            "kind": rule.kind,
            "severity": rule.severity,
            "event_item": rule.raises,
            "value": value,
            "opened_at": ts,
            "details": json.dumps(details or {}),
        }
    )
    if alarm_id is None:
        return await alarms.active_id(device.id, rule.code), []
    await alarms.add_history(alarm_id=alarm_id, node_path=device.node_path, action="opened", value=value)
    event = AlarmOpened(
        alarm_id=alarm_id,
        device_id=device.id,
        tenant_id=device.tenant_id,
        node_id=device.node_id,
        node_path=device.node_path,
        location=device.location,
        rule_code=rule.code,
        event_item=rule.raises,
        severity=rule.severity,
        value=value,
        ts=ts,
        device_type=device.type_code,
        serial=device.serial,
    )
    for handler in ALARM_OPENED_HANDLERS:
        await handler(session, event)
    commands: list[PendingCommand] = []
    devices = DeviceRepository(session)
    command_repo = CommandRepository(session)
    for link in rule.linkage:
        keys = SCOPE_KEYS.get(link.scope, LOCATION_KEYS)
        targets = await devices.actuators_in_scope(
            node_id=device.node_id, type_code=link.target_type, location=device.location, keys=keys
        )
        target_type = types.get(link.target_type, device.node_path)
        spec = target_type.commands.get(link.command, {}) if target_type else {}
        timeout = float(spec.get("ack_timeout_s", 30))
        for target in targets:
            command_id = await command_repo.create(
                {
                    "tenant_id": target.tenant_id,
                    "device_id": target.id,
                    "node_path": target.node_path,
                    "alarm_id": alarm_id,
                    "command": link.command,
                    "args": json.dumps(link.args),
                    "timeout": timeout,
                }
            )
            payload = orjson.dumps({"command_id": command_id, "command": link.command, "args": link.args})
            commands.append(
                PendingCommand(command_id, broker.topic(target.slug, target.serial, "commands"), payload, timeout)
            )
        if commands:
            await alarms.add_history(
                alarm_id=alarm_id,
                node_path=device.node_path,
                action="linkage",
                note=f"{link.command} sent to {len(targets)} {link.target_type} device(s)",
            )
    return alarm_id, commands


async def clear_alarm(session: AsyncSession, *, alarm_id: int, ts: datetime, value: float | None) -> None:
    alarms = AlarmRepository(session)
    path = await alarms.clear(alarm_id, at=ts, value=value)
    if path is not None:
        await alarms.add_history(alarm_id=alarm_id, node_path=path, action="cleared", value=value)


async def list_alarms(
    session: AsyncSession,
    *,
    state: str | None,
    device_id: int | None,
    node_id: int | None,
    after_id: int | None,
    limit: int,
) -> Sequence[Alarm]:
    path = await NodeService(session).path_filter(node_id)
    return await AlarmRepository(session).list(
        state=state, device_id=device_id, node_path=path, after_id=after_id, limit=limit
    )


async def get_alarm(session: AsyncSession, *, alarm_id: int) -> tuple[Alarm, Sequence[AlarmHistory]]:
    """The alarm and its history."""
    repo = AlarmRepository(session)
    alarm = await access_object(
        session, None, await repo.get(alarm_id), permission=Permission("alarms", "read"), what="alarm"
    )
    return alarm, await repo.history(alarm.id)


async def acknowledge_alarm(session: AsyncSession, *, actor: Principal, alarm_id: int, note: str | None) -> Alarm:
    alarms = AlarmRepository(session)
    alarm = await access_object(
        session, actor, await alarms.get(alarm_id), permission=Permission("alarms", "acknowledge"), what="alarm"
    )
    if alarm.state != "open":
        raise Conflict(f"the alarm is {alarm.state}", code="alarm_not_open")
    alarm.state = "acknowledged"
    alarm.acknowledged_at = now()
    alarm.acknowledged_by = actor.display_name or str(actor.id)
    await session.flush()
    await alarms.add_history(
        alarm_id=alarm.id, node_path=alarm.node_path, action="acknowledged", actor=str(actor.id), note=note
    )
    await audit.record(
        session,
        actor=actor,
        action="alarm.acknowledge",
        object_type="alarm",
        object_id=alarm.id,
        node_path=alarm.node_path,
        after={"state": alarm.state, "note": note},
    )
    return alarm
