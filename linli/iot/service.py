"""Device registry, alarms, commands and telemetry queries. Never commits; keyword-only arguments."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import broker, publisher
from linli.iot.catalog import RULE_PARAMS, RuleSpec, TypeRegistry, invalidate_types, load_types
from linli.iot.models import Alarm, Device, TenantDeviceType
from linli.iot.repository import (
    AlarmRepository,
    CommandRepository,
    DeviceRepository,
    DeviceTypeRepository,
    RuleRepository,
    TelemetryRepository,
)
from linli.iot.schemas import (
    Credentials,
    DeviceCreated,
    DeviceOut,
    DeviceTypeBody,
    DeviceTypeCreate,
    DeviceTypeOut,
    LocationIn,
    MetricDef,
    RuleDef,
    TelemetryOut,
    TelemetryPoint,
    TypeName,
)
from linli.platform import audit
from linli.platform.access import Principal, after_commit, assert_writable, tenant_chain
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.security import new_secret, sha256_hex

log = logging.getLogger(__name__)
TOKEN_PREFIX = "dt_"
LOCATION_KEYS = ("building", "unit", "floor", "space")
SCOPE_KEYS = {
    "same_space": LOCATION_KEYS,
    "same_floor": ("building", "unit", "floor"),
    "same_unit": ("building", "unit"),
    "same_building": ("building",),
    "same_node": (),
}


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- alarm events for other domains


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
# Called inside the transaction that opens the alarm (the events package registers one here).
ALARM_OPENED_HANDLERS: list[AlarmOpenedHandler] = []


# ---------------------------------------------------------------- registry


def device_status(device: Device, *, interval_s: int | None = None, at: datetime | None = None) -> str:
    if device.revoked_at is not None:
        return "revoked"
    if device.last_seen_at is None:
        return "registered"
    if interval_s is not None:
        limit = timedelta(seconds=max(3 * interval_s, 300))
        return "online" if (at or now()) - device.last_seen_at <= limit else "offline"
    return device.status


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        tenant_id=device.tenant_id,
        node_id=device.node_id,
        node_path=device.node_path,
        type=device.type_code,
        serial=device.serial,
        location=device.location,
        status=device_status(device),
        last_seen_at=device.last_seen_at,
        mqtt_username=device.mqtt_username,
        created_at=device.created_at,
        revoked_at=device.revoked_at,
    )


def snapshot(device: Device) -> dict[str, Any]:
    return {
        "type": device.type_code,
        "serial": device.serial,
        "node_id": device.node_id,
        "location": device.location,
        "mqtt_username": device.mqtt_username,
        "revoked_at": device.revoked_at,
    }


@dataclass
class _Prepared:
    device: Device
    credentials: Credentials
    acl: broker.DeviceAcl


async def _prepare(
    session: AsyncSession, *, actor: Principal, type_code: str, serial: str, node_id: int, location: LocationIn
) -> _Prepared:
    node = await NodeService(session).get_visible(node_id)
    actor.authorize("devices", "create", node.node_path, what="node")
    await assert_writable(session, node.node_path)
    owners = await tenant_chain(session, node.node_path)
    if not owners:
        raise BadRequest("the node belongs to no tenant", code="no_tenant")
    tenant = owners[-1]
    repo = DeviceRepository(session)
    if not await repo.type_defined(type_code, node.node_path):
        raise BadRequest(f"unknown device type {type_code!r}", code="unknown_device_type")
    if await repo.serial_taken(tenant.id, serial):
        raise Conflict(f"serial {serial!r} is already registered in this tenant", code="serial_taken")
    token = TOKEN_PREFIX + new_secret(24)
    username = f"{tenant.slug}.{serial}"
    password = new_secret(18)
    device = Device(
        tenant_id=tenant.id,
        node_id=node.id,
        node_path=node.node_path,
        type_code=type_code,
        serial=serial,
        location=location.model_dump(exclude_none=True),
        status="registered",
        token_hash=sha256_hex(token),
        mqtt_username=username,
    )
    credentials = Credentials(
        token=token,
        mqtt_username=username,
        mqtt_password=password,
        telemetry_topic=broker.topic(tenant.slug, serial, "telemetry"),
        commands_topic=broker.topic(tenant.slug, serial, "commands"),
        acks_topic=broker.topic(tenant.slug, serial, "acks"),
    )
    return _Prepared(device, credentials, broker.DeviceAcl(username, password, tenant.slug, serial))


async def _insert(session: AsyncSession, *, actor: Principal, prepared: _Prepared) -> DeviceCreated:
    repo = DeviceRepository(session)
    try:
        async with session.begin_nested():
            repo.add(prepared.device)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("serial is already registered in this tenant", code="serial_taken") from exc
    await session.refresh(prepared.device)
    await audit.record(
        session,
        actor=actor,
        action="device.register",
        object_type="device",
        object_id=prepared.device.id,
        node_path=prepared.device.node_path,
        after=snapshot(prepared.device),
    )
    return DeviceCreated(**device_out(prepared.device).model_dump(), credentials=prepared.credentials)


def _broker_after_commit(session: AsyncSession, acls: list[broker.DeviceAcl]) -> None:
    async def create() -> None:
        try:
            await broker.create_devices(acls)
        except (broker.BrokerError, OSError):
            log.exception("could not create %d MQTT client(s) in the broker", len(acls))

    after_commit(session, create)


async def register_device(
    session: AsyncSession, *, actor: Principal, type_code: str, serial: str, node_id: int, location: LocationIn
) -> DeviceCreated:
    prepared = await _prepare(
        session, actor=actor, type_code=type_code, serial=serial, node_id=node_id, location=location
    )
    created = await _insert(session, actor=actor, prepared=prepared)
    _broker_after_commit(session, [prepared.acl])
    return created


BULK_COLUMNS = ("type", "serial", "node_id", "building", "unit", "floor", "space")
MAX_BULK_ROWS = 5000


async def register_bulk(
    session: AsyncSession, *, actor: Principal, csv_text: str
) -> tuple[list[DeviceCreated], list[dict[str, Any]]]:
    """CSV with a header (type,serial,node_id[,building,unit,floor,space]); every row on its own."""
    reader = csv.DictReader(io.StringIO(csv_text))
    missing = [c for c in ("type", "serial", "node_id") if c not in (reader.fieldnames or [])]
    if missing:
        raise BadRequest(f"CSV header lacks {', '.join(missing)}", code="bad_csv_header")
    created: list[DeviceCreated] = []
    errors: list[dict[str, Any]] = []
    acls: list[broker.DeviceAcl] = []
    seen: set[str] = set()
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_BULK_ROWS:
            raise BadRequest(f"at most {MAX_BULK_ROWS} rows per upload", code="too_many_rows")
        serial = (row.get("serial") or "").strip()
        try:
            from linli.iot.schemas import DeviceCreate

            body = DeviceCreate.model_validate(
                {
                    "type": (row.get("type") or "").strip(),
                    "serial": serial,
                    "node_id": (row.get("node_id") or "").strip(),
                    "location": {k: row[k].strip() for k in LOCATION_KEYS if row.get(k)},
                }
            )
            if body.serial in seen:
                raise Conflict(f"serial {serial!r} appears twice in the file", code="duplicate_in_file")
            seen.add(body.serial)
            prepared = await _prepare(
                session,
                actor=actor,
                type_code=body.type,
                serial=body.serial,
                node_id=body.node_id,
                location=body.location,
            )
            created.append(await _insert(session, actor=actor, prepared=prepared))
            acls.append(prepared.acl)
        except (BadRequest, Conflict, NotFound) as exc:
            errors.append({"row": number, "serial": serial or None, "code": exc.code, "message": exc.message})
        except ValueError as exc:  # pydantic ValidationError
            first = str(exc).splitlines()
            errors.append(
                {"row": number, "serial": serial or None, "code": "invalid_row", "message": " ".join(first[:3])}
            )
        except Exception as exc:
            from linli.platform.errors import Forbidden

            if isinstance(exc, Forbidden):
                errors.append({"row": number, "serial": serial or None, "code": exc.code, "message": exc.message})
            else:
                raise
    if acls:
        _broker_after_commit(session, acls)
    return created, errors


async def get_device(session: AsyncSession, *, device_id: int) -> Device:
    device = await DeviceRepository(session).get(device_id)
    if device is None:
        raise NotFound("device")
    return device


async def revoke_device(session: AsyncSession, *, actor: Principal, device_id: int) -> Device:
    device = await get_device(session, device_id=device_id)
    actor.authorize("devices", "delete", device.node_path, what="device")
    if device.revoked_at is None:
        before = snapshot(device)
        device.revoked_at = now()
        device.status = "revoked"
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="device.revoke",
            object_type="device",
            object_id=device.id,
            node_path=device.node_path,
            before=before,
            after=snapshot(device),
        )
    username = device.mqtt_username

    async def remove() -> None:
        try:
            await broker.delete_devices([username])
        except (broker.BrokerError, OSError):
            log.exception("could not remove MQTT client %s", username)

    after_commit(session, remove)
    return device


# ---------------------------------------------------------------- alarms and commands


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


@dataclass
class PendingCommand:
    id: int
    topic: str
    payload: bytes
    deadline_s: float


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


async def acknowledge_alarm(session: AsyncSession, *, actor: Principal, alarm_id: int, note: str | None) -> Alarm:
    alarms = AlarmRepository(session)
    alarm = await alarms.get(alarm_id)
    if alarm is None:
        raise NotFound("alarm")
    actor.authorize("alarms", "acknowledge", alarm.node_path, what="alarm")
    await assert_writable(session, alarm.node_path)
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


async def dispatch_commands(commands: Sequence[PendingCommand]) -> None:
    """After the commit that created them: publish, mark sent, and schedule the acknowledgement deadline."""
    if not commands:
        return
    from linli.platform import jobs  # imported here: the jobs registry imports this module

    try:
        await publisher.publish([(c.topic, c.payload) for c in commands])
    except (broker.BrokerError, OSError):
        log.exception("could not publish %d command(s); the sweep will time them out", len(commands))
        return
    async with scoped_session(SYSTEM_SCOPE) as session:
        await CommandRepository(session).mark_sent([c.id for c in commands])
    for c in commands:
        try:
            await jobs.enqueue_now(
                "command_ack_timeout",
                c.id,
                job_id=f"iot-cmd-timeout-{c.id}",
                defer_until=now() + timedelta(seconds=c.deadline_s + 1),
            )
        except Exception:  # Redis away: the periodic sweep times the command out instead
            log.warning("could not schedule the ack deadline of command %s; the sweep will", c.id)


async def acknowledge_command(session: AsyncSession, *, device_id: int, payload: bytes) -> bool:
    try:
        body = orjson.loads(payload)
        command_id = int(body["command_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False
    ok = str(body.get("status", "ok")).lower() in ("ok", "done", "acked", "success")
    result = orjson.dumps(body.get("result")).decode() if body.get("result") is not None else None
    return await CommandRepository(session).acknowledge(
        command_id=command_id, device_id=device_id, ok=ok, result=result
    )


async def expire_commands(session: AsyncSession, *, command_id: int | None = None) -> int:
    """Time out unacknowledged commands and escalate their alarms (one level per timed-out command)."""
    expired = await CommandRepository(session).expire(command_id=command_id)
    alarms = AlarmRepository(session)
    for cid, alarm_id in expired:
        if alarm_id is None:
            continue
        path = await alarms.escalate(alarm_id)
        if path is not None:
            await alarms.add_history(
                alarm_id=alarm_id, node_path=path, action="escalated", note=f"command {cid} not acknowledged in time"
            )
    return len(expired)


# ---------------------------------------------------------------- telemetry queries

RAW_MAX = timedelta(days=2)
HOURLY_MAX = timedelta(days=60)
MAX_POINTS = 10_000


async def query_telemetry(
    session: AsyncSession,
    worker_session: AsyncSession,
    *,
    device_id: int,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    resolution: str | None = None,
) -> TelemetryOut:
    """`session` (API role) proves the caller sees the device; `worker_session` reads the hypertable."""
    device = await get_device(session, device_id=device_id)
    end = end or now()
    start = start or end - timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("from and to need a timezone (e.g. 2026-01-01T00:00:00Z)", code="naive_timestamp")
    if start >= end:
        raise BadRequest("from must be before to", code="bad_range")
    repo = TelemetryRepository(worker_session)
    metric_id = await repo.metric_id(metric)
    if metric_id is None:
        raise NotFound("metric")
    span = end - start
    chosen = resolution or ("raw" if span <= RAW_MAX else "1h" if span <= HOURLY_MAX else "1d")
    if chosen == "raw":
        rows = await repo.raw(device_id=device.id, metric_id=metric_id, start=start, end=end, limit=MAX_POINTS)
        points = [TelemetryPoint(ts=r.ts, value=r.value) for r in rows]
    elif chosen in ("1h", "1d"):
        rows = await repo.rollup(
            table=f"telemetry_{chosen}",
            device_id=device.id,
            metric_id=metric_id,
            start=start,
            end=end,
            limit=MAX_POINTS,
        )
        points = [TelemetryPoint(ts=r.ts, value=r.value, min=r.min, max=r.max, n=r.n) for r in rows]
    else:
        raise BadRequest("resolution is raw, 1h or 1d", code="bad_resolution")
    return TelemetryOut(device_id=device.id, metric=metric, resolution=chosen, points=points)


# ---------------------------------------------------------------- rules (catalog defaults + overrides)


async def effective_rules_at(session: AsyncSession, *, node_path: str, type_code: str | None) -> list[dict[str, Any]]:
    types = await load_types(session)
    overrides = await RuleRepository(session).covering(node_path)
    out: list[dict[str, Any]] = []
    for spec in types.applicable(node_path):
        if type_code and spec.code != type_code:
            continue
        for rule in spec.rules:
            params: dict[str, Any] = {}
            where: list[str] = []
            enabled = True
            for o in overrides:
                if o.type_code == spec.code and o.rule_code == rule.code:
                    params.update(o.params)
                    enabled = o.enabled
                    where.append(o.node_path)
            base = {
                k: v
                for k, v in vars(rule).items()
                if k not in ("code", "kind", "linkage", "enabled") and v not in (None, (), 0.0)
            }
            out.append(
                {
                    "type": spec.code,
                    "code": rule.code,
                    "kind": rule.kind,
                    "params": base | params | {"enabled": enabled},
                    "overridden_at": where,
                }
            )
    return out


async def override_rule(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int,
    type_code: str,
    rule_code: str,
    params: dict[str, Any],
    enabled: bool,
) -> dict[str, Any]:
    node = await NodeService(session).get_visible(node_id)
    actor.authorize("rules", "update", node.node_path, what="node")
    await assert_writable(session, node.node_path)
    owners = await tenant_chain(session, node.node_path)
    if not owners:
        raise BadRequest("the node belongs to no tenant", code="no_tenant")
    spec = (await load_types(session)).get(type_code, node.node_path)
    if spec is None:
        raise BadRequest(f"unknown device type {type_code!r}", code="unknown_device_type")
    if rule_code not in {r.code for r in spec.rules}:
        raise BadRequest(f"{type_code} has no rule {rule_code!r}", code="unknown_rule")
    unknown = sorted(set(params) - RULE_PARAMS)
    if unknown:
        raise BadRequest(f"parameters that cannot be overridden: {', '.join(unknown)}", code="bad_rule_params")
    for key, value in params.items():
        if key in ("severity", "raises", "alarm_states", "enabled"):
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise BadRequest(f"{key} must be a number", code="bad_rule_params")
    rule = await RuleRepository(session).upsert(
        {
            "tenant_id": owners[-1].id,
            "node_id": node.id,
            "node_path": node.node_path,
            "type_code": type_code,
            "rule_code": rule_code,
            "params": json.dumps(params),
            "enabled": enabled,
        }
    )
    await audit.record(
        session,
        actor=actor,
        action="rule.override",
        object_type="rule",
        object_id=rule.id,
        node_path=node.node_path,
        after={"type": type_code, "rule": rule_code, "params": params, "enabled": enabled},
    )
    _reload_types_after_commit(session)
    found = await effective_rules_at(session, node_path=node.node_path, type_code=type_code)
    return next(r for r in found if r["code"] == rule_code)


def _reload_types_after_commit(session: AsyncSession) -> None:
    async def reload() -> None:
        invalidate_types()

    after_commit(session, reload)


# ---------------------------------------------------------------- device types (catalog and tenants' own)


def catalog_type_out(code: str, spec: dict[str, Any]) -> DeviceTypeOut:
    return DeviceTypeOut(
        id=None,
        code=code,
        source="catalog",
        tenant_id=None,
        node_id=None,
        node_path=None,
        name=TypeName(**spec["name"]),
        interval_s=int(spec.get("interval_s", 60)),
        actuator=bool(spec.get("actuator", False)),
        metrics=spec.get("metrics", []),
        rules=spec.get("rules", []),
        commands=spec.get("commands", []),
        created_at=None,
        updated_at=None,
    )


def tenant_type_out(row: TenantDeviceType) -> DeviceTypeOut:
    return catalog_type_out(row.code, row.spec).model_copy(
        update={
            "id": row.id,
            "source": "tenant",
            "tenant_id": row.tenant_id,
            "node_id": row.node_id,
            "node_path": row.node_path,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


async def list_device_types(
    session: AsyncSession, *, node_path: str, code: str | None, source: str | None
) -> list[DeviceTypeOut]:
    """The catalog's types and the tenants' own that apply at the node or are defined below it."""
    repo = DeviceTypeRepository(session)
    out: list[DeviceTypeOut] = []
    if source in (None, "catalog"):
        out += [catalog_type_out(row.code, row.spec) for row in await repo.catalog(code)]
    if source in (None, "tenant"):
        out += [tenant_type_out(row) for row in await repo.around(node_path, code)]
    return sorted(out, key=lambda t: (t.code, t.id or 0))


async def get_device_type(session: AsyncSession, *, type_id: int) -> TenantDeviceType:
    row = await DeviceTypeRepository(session).get(type_id)
    if row is None:
        raise NotFound("device type")
    return row


async def _checked_spec(session: AsyncSession, *, code: str, node_path: str, body: DeviceTypeBody) -> dict[str, Any]:
    """The definition as stored (the catalog's shape), after the checks a schema cannot make."""

    def refuse(message: str, code: str = "bad_device_type") -> BadRequest:
        return BadRequest(message, code=code)

    for what, codes in (
        ("metric", [m.code for m in body.metrics]),
        ("rule", [r.code for r in body.rules]),
        ("command", [c.code for c in body.commands]),
    ):
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise refuse(f"{what} codes must be unique: {', '.join(twice)}")
    metrics = {m.code: m for m in body.metrics}
    for m in body.metrics:
        if m.range is not None and m.range[0] > m.range[1]:
            raise refuse(f"metric {m.code}: range [{m.range[0]}, {m.range[1]}] is upside down")
    for r in body.rules:
        for name in (r.metric, r.activity):
            if name is not None and name not in metrics:
                raise refuse(f"rule {r.code} names metric {name!r}, which the type does not report", "unknown_metric")
        problem = _rule_problem(r, metrics)
        if problem:
            raise refuse(f"rule {r.code}: {problem}", "bad_rule")
    raised = sorted({r.raises for r in body.rules if r.raises})
    missing = await DeviceTypeRepository(session).event_items_missing(raised)
    if missing:
        raise refuse(f"no event item {', '.join(missing)} in the taxonomy", "unknown_event_item")
    links = [link for r in body.rules for link in r.linkage]
    if links:
        types = await load_types(session)
        own = {c.code: c for c in body.commands}
        for link in links:
            if link.target_type == code:
                commands = {c: {"args": d.args} for c, d in own.items()} if body.actuator else {}
            else:
                target = types.get(link.target_type, node_path)
                commands = target.commands if target is not None and target.actuator else {}
            if link.command not in commands:
                raise refuse(
                    f"linkage: no actuator type {link.target_type!r} with the command {link.command!r} here",
                    "bad_linkage",
                )
            extra = sorted(set(link.args) - set(commands[link.command].get("args", {})))
            if extra:
                raise refuse(f"linkage: {link.command} takes no argument {', '.join(extra)}", "bad_linkage")
    return {"code": code} | body.model_dump(mode="json", exclude_none=True, exclude={"node_id", "code"})


def _rule_problem(rule: RuleDef, metrics: dict[str, MetricDef]) -> str | None:
    if rule.kind != "absence" and rule.metric is None:
        return f"a {rule.kind} rule needs a metric"
    if rule.kind == "threshold":
        if (rule.above is None) == (rule.below is None):
            return "a threshold rule has either above or below"
        if rule.above is not None and rule.clear_below is not None and rule.clear_below > rule.above:
            return "clear_below must not exceed above (hysteresis)"
        if rule.below is not None and rule.clear_above is not None and rule.clear_above < rule.below:
            return "clear_above must not be under below (hysteresis)"
    if rule.kind == "state" and not rule.alarm_states:
        return "a state rule needs alarm_states"
    if rule.kind == "absence":
        if rule.for_s is None:
            return "an absence rule needs for_s"
        if rule.activity is not None and metrics[rule.activity].kind != "counter":
            return "activity must name a counter metric"
    if rule.kind == "rate" and (rule.above_per_hour is None or rule.above_per_hour <= 0):
        return "a rate rule needs a positive above_per_hour"
    return None


def _type_snapshot(row: TenantDeviceType) -> dict[str, Any]:
    return {"code": row.code, "node_id": row.node_id, "spec": row.spec}


async def create_device_type(session: AsyncSession, *, actor: Principal, body: DeviceTypeCreate) -> DeviceTypeOut:
    node = await NodeService(session).get_visible(body.node_id)
    actor.authorize("device_types", "create", node.node_path, what="node")
    await assert_writable(session, node.node_path)
    owners = await tenant_chain(session, node.node_path)
    if not owners:
        raise BadRequest("the node belongs to no tenant", code="no_tenant")
    repo = DeviceTypeRepository(session)
    taken = Conflict(
        f"a device type {body.code!r} already applies here or below; pick another code", code="device_type_exists"
    )
    if await DeviceRepository(session).type_defined(body.code, node.node_path) or await repo.around(
        node.node_path, body.code
    ):
        raise taken
    spec = await _checked_spec(session, code=body.code, node_path=node.node_path, body=body)
    await repo.register_metrics([m.code for m in body.metrics])
    try:
        async with session.begin_nested():
            row = await repo.add(
                TenantDeviceType(
                    tenant_id=owners[-1].id,
                    node_id=node.id,
                    node_path=node.node_path,
                    code=body.code,
                    name=body.name.zh,
                    name_en=body.name.en,
                    interval_s=body.interval_s,
                    actuator=body.actuator,
                    spec=spec,
                )
            )
    except IntegrityError as exc:  # the same code elsewhere in this tenant, out of the caller's sight
        raise taken from exc
    await audit.record(
        session,
        actor=actor,
        action="device_type.create",
        object_type="device_type",
        object_id=row.id,
        node_path=row.node_path,
        after=_type_snapshot(row),
    )
    _reload_types_after_commit(session)
    return tenant_type_out(row)


async def update_device_type(
    session: AsyncSession, *, actor: Principal, type_id: int, body: DeviceTypeBody
) -> DeviceTypeOut:
    """Replace the definition (the code and node stay). Readings of metrics it drops are refused from now."""
    row = await get_device_type(session, type_id=type_id)
    actor.authorize("device_types", "update", row.node_path, what="device type")
    await assert_writable(session, row.node_path)
    spec = await _checked_spec(session, code=row.code, node_path=row.node_path, body=body)
    before = _type_snapshot(row)
    await DeviceTypeRepository(session).register_metrics([m.code for m in body.metrics])
    row.spec, row.name, row.name_en = spec, body.name.zh, body.name.en
    row.interval_s, row.actuator, row.updated_at = body.interval_s, body.actuator, now()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="device_type.update",
        object_type="device_type",
        object_id=row.id,
        node_path=row.node_path,
        before=before,
        after=_type_snapshot(row),
    )
    _reload_types_after_commit(session)
    return tenant_type_out(row)


async def delete_device_type(session: AsyncSession, *, actor: Principal, type_id: int) -> None:
    """Only while no device (revoked ones included: their telemetry keeps its meaning) has the type."""
    row = await get_device_type(session, type_id=type_id)
    actor.authorize("device_types", "delete", row.node_path, what="device type")
    await assert_writable(session, row.node_path)
    used = await DeviceRepository(session).count_of_type(row.code, row.node_path)
    if used:
        raise Conflict(
            f"{used} device(s) have the type {row.code!r}; revoke and re-register them first",
            code="device_type_in_use",
        )
    before = _type_snapshot(row)
    await RuleRepository(session).delete_for_type(row.code, row.node_path)
    await DeviceTypeRepository(session).delete(row)
    await audit.record(
        session,
        actor=actor,
        action="device_type.delete",
        object_type="device_type",
        object_id=type_id,
        node_path=row.node_path,
        before=before,
    )
    _reload_types_after_commit(session)
