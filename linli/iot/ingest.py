"""The batch writer shared by MQTT and HTTP ingest, and the stream rules engine.

One batch = one transaction: readings are validated against their device type (anything refused goes
to `dead_letters` with the reason), binary-COPied into a temporary staging table and inserted into the
hypertable with ON CONFLICT DO NOTHING on (device, ts, metric) so a replayed message stores nothing
twice; `telemetry_latest`, the rollups' dirty hours and the rules' state are updated in the same
transaction. Callers acknowledge MQTT messages only after `write` returned (the commit happened).
"""

from __future__ import annotations

import json
import logging
import math
import struct
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import catalog
from linli.iot.catalog import (
    Override,
    RuleSpec,
    TypeRegistry,
    effective_rules,
    load_metric_ids,
    load_overrides,
    load_types,
)
from linli.iot.service import DeviceContext, PendingCommand, acknowledge_command, clear_alarm, open_alarm
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.security import sha256_hex

MAX_FUTURE = timedelta(minutes=10)
FLAG = (0.0, 1.0)
PAYLOAD_KEEP = 4000
CACHE_TTL_S = 30.0
MISS_TTL_S = 3.0
# How soon a suspension reaches the MQTT path (HTTP checks at authentication): one small query per period.
TENANT_STATUS_TTL_S = 5.0
LAST_SEEN_EVERY = timedelta(seconds=60)


# One telemetry row: ts, tenant_id, device_id, metric_id, value.
Row = tuple[datetime, int, int, int, float]
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
# Field count, then (length, value) for timestamptz, int4, int8, int4, float8.
COPY_ROW = struct.Struct("!hiqiiiqiiid")
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
HOUR_US = 3_600_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def copy_statement(table: str) -> str:
    return f"copy {table} (ts, tenant_id, device_id, metric_id, value) from stdin (format binary)"


def copy_payload(rows: Sequence[Row]) -> tuple[bytes, list[datetime]]:
    """Rows in PostgreSQL's binary COPY format, built in one pass (a coroutine per row cost more than
    the database's own work), and the UTC hours they fall in (dirty for the rollups)."""
    micros: dict[datetime, int] = {}
    pack = COPY_ROW.pack
    parts = [COPY_SIGNATURE]
    for ts, tenant_id, device_id, metric_id, value in rows:
        us = micros.get(ts)
        if us is None:
            us = micros[ts] = (ts - PG_EPOCH) // MICROSECOND
        parts.append(pack(5, 8, us, 4, tenant_id, 8, device_id, 4, metric_id, 8, value))
    parts.append(COPY_TRAILER)
    hours = sorted({us // HOUR_US for us in micros.values()})
    return b"".join(parts), [PG_EPOCH + timedelta(hours=h) for h in hours]


@dataclass
class Message:
    """One MQTT message or HTTP request body. `device` is set when the sender is already authenticated
    (HTTP token); otherwise the device is the topic's (slug, serial)."""

    source: str
    payload: bytes
    topic: str | None = None
    slug: str | None = None
    serial: str | None = None
    device: DeviceContext | None = None
    received_at: datetime = field(default_factory=utcnow)
    tag: Any = None


@dataclass
class BatchResult:
    accepted: int = 0
    stored: int = 0
    dead: int = 0
    acks: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    commands: list[PendingCommand] = field(default_factory=list)
    alarms_opened: list[int] = field(default_factory=list)


@dataclass
class _State:
    phase: str
    since: datetime
    last_ts: datetime
    last_value: float | None
    alarm_id: int | None


class RuleSet:
    """A device's effective rules, indexed for the stream: which readings they must see, and which
    readings could change something (only those devices take the rule-state lock)."""

    def __init__(self, rules: tuple[RuleSpec, ...]) -> None:
        self.rules = rules
        # Absence rules watch every reading (any reading ends a silence).
        self.watch_all = any(r.kind == "absence" for r in rules)
        self.watched = frozenset(r.metric for r in rules if r.kind != "absence")
        # Rate rules and activity counters keep state from every reading.
        self.stateful = any(r.kind == "rate" for r in rules)
        self.activity = frozenset(r.metric for r in rules if r.kind == "absence" and r.activity is not None)
        self.by_metric: dict[str | None, tuple[RuleSpec, ...]] = {}
        for r in rules:
            if r.kind in ("threshold", "state"):
                self.by_metric[r.metric] = (*self.by_metric.get(r.metric, ()), r)

    def may_act(self, readings: Sequence[tuple[datetime, str, float]]) -> bool:
        """Could these readings open, advance or clear anything (given no state kept yet)?"""
        if self.stateful:
            return True
        by_metric, activity = self.by_metric, self.activity
        return any(
            metric in activity or any(r.abnormal(value) for r in by_metric.get(metric, ()))
            for _, metric, value in readings
        )


@dataclass(slots=True)
class _Target:
    """A device of the batch being written."""

    device: DeviceContext
    accepts: dict[str, tuple[int, float, float, bool]]
    rules: RuleSet
    candidates: list[tuple[datetime, str, float]] = field(default_factory=list)
    last_ts: datetime | None = None


class IngestError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_ts(raw: Any, default: datetime, parsed: dict[str, datetime]) -> datetime:
    """`parsed` remembers the strings of a batch (a gateway's readings share their timestamp)."""
    if raw is None:
        return default
    ts = parsed.get(raw) if isinstance(raw, str) else None
    if ts is None:
        if not isinstance(raw, str):
            raise IngestError("bad_timestamp", f"ts must be an ISO-8601 string, got {raw!r}")
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise IngestError("bad_timestamp", f"ts {raw!r} is not ISO-8601") from None
        if ts.tzinfo is None:
            raise IngestError("bad_timestamp", f"ts {raw!r} has no timezone")
        parsed[raw] = ts
    if ts - default > MAX_FUTURE:
        raise IngestError("future_timestamp", f"ts {raw!r} lies in the future")
    return ts


def to_value(raw: Any) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return float(raw)
    raise IngestError("bad_value", f"value {raw!r} is not a number")


class DeviceCache:
    """Devices by (tenant slug, serial) and by token hash, loaded on a miss, kept for a short time."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], tuple[DeviceContext | None, bool, float]] = {}
        self.tenants: dict[str, tuple[int, str]] = {}
        self.tenants_loaded = 0.0
        # Tenants that are not active themselves or lie inside one that is not: id -> that status.
        self.inactive: dict[int, str] = {}
        self.inactive_loaded = -1e9

    async def refresh_inactive(self, session: AsyncSession) -> dict[int, str]:
        if time.monotonic() - self.inactive_loaded > TENANT_STATUS_TTL_S:
            rows = await session.execute(
                text(
                    "select t.id, o.status from tenants t join tenants o on o.node_path @> t.node_path "
                    "where o.status <> 'active'"
                )
            )
            self.inactive = {int(i): str(s) for i, s in rows}
            self.inactive_loaded = time.monotonic()
        return self.inactive

    async def tenant(self, session: AsyncSession, slug: str) -> tuple[int, str] | None:
        if slug not in self.tenants and time.monotonic() - self.tenants_loaded > MISS_TTL_S:
            rows = await session.execute(text("select slug, id, node_path::text from tenants"))
            self.tenants = {s: (int(i), p) for s, i, p in rows}
            self.tenants_loaded = time.monotonic()
        return self.tenants.get(slug)

    async def resolve(self, session: AsyncSession, keys: Iterable[tuple[str, str]]) -> None:
        clock = time.monotonic()
        missing = [k for k in set(keys) if k not in self.by_key or self.by_key[k][2] < clock]
        if not missing:
            return
        by_slug: dict[str, list[str]] = defaultdict(list)
        for slug, serial in missing:
            by_slug[slug].append(serial)
        found: set[tuple[str, str]] = set()
        for slug, serials in by_slug.items():
            rows = await session.execute(
                text(
                    "select d.id, d.tenant_id, t.slug, d.node_id, d.node_path::text as node_path, d.type_code, "
                    "d.serial, d.location, d.gateway, d.revoked_at is not null as revoked from devices d "
                    "join tenants t on t.id = d.tenant_id where t.slug = :slug and d.serial = any(:serials)"
                ),
                {"slug": slug, "serials": serials},
            )
            for r in rows:
                ctx = DeviceContext(
                    r.id, r.tenant_id, r.slug, r.node_id, r.node_path, r.type_code, r.serial, r.location, r.gateway
                )
                self.by_key[(slug, r.serial)] = (ctx, bool(r.revoked), clock + CACHE_TTL_S)
                found.add((slug, r.serial))
        for key in missing:
            if key not in found:
                self.by_key[key] = (None, False, clock + MISS_TTL_S)

    def get(self, slug: str, serial: str) -> tuple[DeviceContext | None, bool]:
        entry = self.by_key.get((slug, serial))
        return (entry[0], entry[1]) if entry else (None, False)

    async def by_token(self, session: AsyncSession, token: str) -> DeviceContext | None:
        row = (
            await session.execute(
                text(
                    "select d.id, d.tenant_id, t.slug, d.node_id, d.node_path::text as node_path, d.type_code, "
                    "d.serial, d.location, d.gateway from devices d join tenants t on t.id = d.tenant_id "
                    "where d.token_hash = :h and d.revoked_at is null and not exists (select 1 from tenants o "
                    "where o.node_path @> t.node_path and o.status <> 'active')"
                ),
                {"h": sha256_hex(token)},
            )
        ).first()
        if row is None:
            return None
        return DeviceContext(
            row.id,
            row.tenant_id,
            row.slug,
            row.node_id,
            row.node_path,
            row.type_code,
            row.serial,
            row.location,
            row.gateway,
        )


class IngestWriter:
    def __init__(self) -> None:
        self.devices = DeviceCache()
        self.types = TypeRegistry({})
        self.metric_ids: dict[str, int] = {}
        self.overrides: list[Override] = []
        self.loaded_at = -1e9
        self.rules_cache: dict[tuple[str, str], RuleSet] = {}
        self.accepts_cache: dict[int, dict[str, tuple[int, float, float, bool]]] = {}
        self.last_seen_written: dict[int, datetime] = {}
        self.generation = catalog.generation

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> None:
        if force or self.generation != catalog.generation or time.monotonic() - self.loaded_at > CACHE_TTL_S:
            self.generation = catalog.generation
            self.types = await load_types(session)
            self.metric_ids = await load_metric_ids(session)
            self.overrides = await load_overrides(session)
            self.rules_cache = {}
            self.accepts_cache = {}
            self.loaded_at = time.monotonic()

    def rules_for(self, device: DeviceContext) -> RuleSet:
        key = (device.type_code, device.node_path)
        found = self.rules_cache.get(key)
        if found is None:
            spec = self.types.get(device.type_code, device.node_path)
            found = RuleSet(effective_rules(spec, device.node_path, self.overrides) if spec else ())
            self.rules_cache[key] = found
        return found

    def _is_gateway(self, device: DeviceContext) -> bool:
        """Registered as a gateway, or of a type that is one."""
        spec = self.types.get(device.type_code, device.node_path)
        return device.gateway or (spec is not None and spec.gateway)

    def _sender(self, msg: Message) -> DeviceContext | None:
        return msg.device or self.devices.get(msg.slug or "", msg.serial or "")[0]

    def _target(self, device: DeviceContext) -> _Target:
        """What a batch needs of a device: the metrics its type accepts (id, range, flag) and those its
        rules watch."""
        spec = self.types.get(device.type_code, device.node_path)
        accepts = self.accepts_cache.get(id(spec)) if spec is not None else {}
        if accepts is None and spec is not None:
            accepts = self.accepts_cache[id(spec)] = {
                m.code: (
                    self.metric_ids[m.code],
                    -math.inf if m.low is None else m.low,
                    math.inf if m.high is None else m.high,
                    m.kind == "flag",
                )
                for m in spec.metrics.values()
                if m.code in self.metric_ids
            }
        return _Target(device, accepts or {}, self.rules_for(device))

    async def _checked(self, session: AsyncSession, device: DeviceContext, metric: str, raw: Any) -> tuple[int, float]:
        """A reading the fast path did not accept: its metric id and value, or IngestError with the
        reason. A metric the loaded types do not know may belong to a type a tenant just defined or
        changed, so look again (at most every MISS_TTL_S) before refusing it."""
        spec = self.types.get(device.type_code, device.node_path)
        if (spec is None or metric not in spec.metrics or metric not in self.metric_ids) and (
            time.monotonic() - self.loaded_at > MISS_TTL_S
        ):
            await self.refresh(session, force=True)
            spec = self.types.get(device.type_code, device.node_path)
        mspec = spec.metrics.get(metric) if spec else None
        metric_id = self.metric_ids.get(metric)
        if mspec is None or metric_id is None:
            raise IngestError("unknown_metric", f"{device.type_code} devices do not report {metric!r}")
        value = to_value(raw)
        problem = mspec.check(value)
        if problem:
            raise IngestError("out_of_range", problem)
        return metric_id, value

    async def authenticate(self, token: str) -> DeviceContext | None:
        async with scoped_session(SYSTEM_SCOPE) as session:
            return await self.devices.by_token(session, token)

    async def record_failure(self, msg: Message, detail: str) -> None:
        """Best effort: keep a message that broke the writer as a dead letter (reason internal_error)."""
        try:
            async with scoped_session(SYSTEM_SCOPE) as session:
                row = await self._dead(session, msg, None, "internal_error", detail, msg.payload)
                await session.execute(
                    text(
                        "insert into dead_letters (tenant_id, node_path, device_id, source, topic, reason, detail, "
                        "payload) values (:tenant_id, text2ltree(:node_path), :device_id, :source, :topic, :reason, "
                        ":detail, :payload)"
                    ),
                    row,
                )
        except Exception:
            logging.getLogger(__name__).exception("could not record the failed message as a dead letter")

    async def write(self, messages: Sequence[Message], *, acks: Sequence[Message] = ()) -> BatchResult:
        async with scoped_session(SYSTEM_SCOPE) as session:
            return await self._write(session, messages, acks)

    # ------------------------------------------------------------ the transaction

    async def _write(self, session: AsyncSession, messages: Sequence[Message], acks: Sequence[Message]) -> BatchResult:
        await self.refresh(session)
        result = BatchResult()
        dead: list[dict[str, Any]] = []
        parsed: list[tuple[Message, Any]] = []
        await self.devices.resolve(
            session, {(m.slug, m.serial) for m in messages if m.device is None and m.slug and m.serial}
        )
        keys: set[tuple[str, str]] = set()
        for msg in messages:
            try:
                body = orjson.loads(msg.payload)
            except orjson.JSONDecodeError as exc:
                dead.append(
                    await self._dead(session, msg, self._sender(msg), "malformed_json", f"not JSON: {exc}", msg.payload)
                )
                continue
            if not isinstance(body, dict) or not (
                isinstance(body.get("metrics"), dict) or isinstance(body.get("readings"), list)
            ):
                dead.append(
                    await self._dead(
                        session,
                        msg,
                        self._sender(msg),
                        "malformed_payload",
                        "expected {metrics: {...}} or {readings: [...]}",
                        msg.payload,
                    )
                )
                continue
            slug = msg.device.tenant_slug if msg.device else msg.slug
            if isinstance(body.get("readings"), list) and slug:
                for reading in body["readings"]:
                    if isinstance(reading, dict) and isinstance(reading.get("serial"), str):
                        keys.add((slug, reading["serial"]))
            parsed.append((msg, body))
        await self.devices.resolve(session, keys)
        first_seen = await self._first_seen(session, parsed)
        inactive = await self.devices.refresh_inactive(session)

        rows: list[Row] = []
        parsed_ts: dict[str, datetime] = {}
        targets: dict[int, _Target] = {}
        for msg, body in parsed:
            sender = msg.device
            if sender is None:
                sender, revoked = self.devices.get(msg.slug or "", msg.serial or "")
                if sender is None or revoked:
                    reason = "revoked_device" if revoked else "unknown_device"
                    dead.append(
                        await self._dead(
                            session,
                            msg,
                            None,
                            reason,
                            f"no active device {msg.serial!r} in tenant {msg.slug!r}",
                            msg.payload,
                        )
                    )
                    continue
            refused = inactive.get(sender.tenant_id)
            if refused is not None:
                dead.append(
                    await self._dead(
                        session,
                        msg,
                        sender,
                        f"tenant_{refused}",
                        f"tenant {sender.tenant_slug!r} is {refused}",
                        msg.payload,
                    )
                )
                continue
            relays: bool | None = None  # may the sender publish for other devices? (asked only if it does)
            if "readings" in body and isinstance(body["readings"], list):
                readings = body["readings"]
            else:
                readings = [{"serial": None, "ts": body.get("ts"), "metrics": body.get("metrics")}]
            arrived = first_seen.get(id(msg), msg.received_at)
            for reading in readings:
                device = sender
                try:
                    if not isinstance(reading, dict) or not isinstance(reading.get("metrics"), dict):
                        raise IngestError("malformed_payload", "a reading needs a metrics object")
                    serial = reading.get("serial")
                    if serial is not None and serial != sender.serial:
                        if not isinstance(serial, str):
                            raise IngestError("malformed_payload", "serial must be a string")
                        if relays is None:
                            relays = self._is_gateway(sender)
                        if not relays:
                            raise IngestError(
                                "not_a_gateway", f"{sender.serial!r} is no gateway: it publishes its own readings only"
                            )
                        found, revoked = self.devices.get(sender.tenant_slug, serial)
                        if found is None or revoked:
                            raise IngestError(
                                "revoked_device" if revoked else "unknown_device",
                                f"no active device {serial!r} in tenant {sender.tenant_slug!r}",
                            )
                        device = found
                    ts = parse_ts(reading.get("ts"), arrived, parsed_ts)
                except IngestError as exc:
                    dead.append(await self._dead(session, msg, sender, exc.reason, exc.detail, orjson.dumps(reading)))
                    continue
                target = targets.get(device.id)
                if target is None:
                    target = targets[device.id] = self._target(device)
                accepts, watched, watch_all = target.accepts, target.rules.watched, target.rules.watch_all
                for metric, raw in reading["metrics"].items():
                    # The common case inline (this runs for every reading); anything unusual takes the
                    # checked path, which also says why a reading is refused.
                    accept = accepts.get(metric)
                    kind = type(raw)
                    if accept is not None and (kind is float or kind is int):
                        metric_id, low, high, flag = accept
                        value = float(raw)
                        if not (low <= value <= high and value - value == 0.0 and (not flag or value in FLAG)):
                            accept = None
                    if accept is None:
                        try:
                            metric_id, value = await self._checked(session, device, metric, raw)
                        except IngestError as exc:
                            dead.append(
                                await self._dead(
                                    session,
                                    msg,
                                    device,
                                    exc.reason,
                                    exc.detail,
                                    orjson.dumps({"serial": device.serial, "ts": reading.get("ts"), metric: raw}),
                                )
                            )
                            continue
                    rows.append((ts, device.tenant_id, device.id, metric_id, value))
                    if watch_all or metric in watched:
                        target.candidates.append((ts, metric, value))
                    if target.last_ts is None or ts > target.last_ts:
                        target.last_ts = ts
        candidates = {d: t.candidates for d, t in targets.items() if t.candidates}
        contexts = {d: t.device for d, t in targets.items()}
        seen = {d: t.last_ts for d, t in targets.items() if t.last_ts is not None}
        result.accepted = len(rows)
        result.dead = len(dead)
        result.errors = [{"reason": d["reason"], "detail": d["detail"]} for d in dead[:50]]

        if rows:
            result.stored = await self._store(session, rows)
        if dead:
            await session.execute(
                text(
                    "insert into dead_letters (tenant_id, node_path, device_id, source, topic, reason, detail, "
                    "payload) values (:tenant_id, text2ltree(:node_path), :device_id, :source, :topic, :reason, "
                    ":detail, :payload)"
                ),
                dead,
            )
        for ack in acks:
            await self.devices.resolve(session, [(ack.slug or "", ack.serial or "")])
            acker, _ = self.devices.get(ack.slug or "", ack.serial or "")
            if (
                acker is not None
                and acker.tenant_id not in inactive
                and await acknowledge_command(session, device_id=acker.id, payload=ack.payload)
            ):
                result.acks += 1
        # Row locks other workers may need: taken last, so they are held only until the commit.
        if candidates:
            await self._rules(session, candidates, contexts, result)
        if rows:
            await self._latest(session, rows)
            await self._last_seen(session, seen)
        return result

    async def _first_seen(self, session: AsyncSession, parsed: list[tuple[Message, Any]]) -> dict[int, datetime]:
        """A message without `ts` but with an `id` keeps the time of its first delivery, so a redelivery
        stores nothing twice (`ingest_dedup`)."""
        wanted: dict[tuple[int, str], list[Message]] = defaultdict(list)
        for msg, body in parsed:
            message_id = body.get("id")
            if body.get("ts") is not None or "metrics" not in body or not isinstance(message_id, str | int):
                continue
            sender = self._sender(msg)
            if sender is not None and len(str(message_id)) <= 128:
                wanted[(sender.id, str(message_id))].append(msg)
        if not wanted:
            return {}
        keys = list(wanted)
        rows = await session.execute(
            text(
                "insert into ingest_dedup (device_id, message_id, ts) select * from unnest(cast(:d as bigint[]), "
                "cast(:m as text[]), cast(:t as timestamptz[])) on conflict (device_id, message_id) "
                "do update set ts = ingest_dedup.ts returning device_id, message_id, ts"
            ),
            {
                "d": [k[0] for k in keys],
                "m": [k[1] for k in keys],
                "t": [wanted[k][0].received_at for k in keys],
            },
        )
        fixed: dict[int, datetime] = {}
        for device_id, message_id, ts in rows:
            for msg in wanted.get((device_id, message_id), []):
                fixed[id(msg)] = ts
        return fixed

    async def _dead(
        self,
        session: AsyncSession,
        msg: Message,
        device: DeviceContext | None,
        reason: str,
        detail: str,
        payload: bytes,
    ) -> dict[str, Any]:
        tenant_id: int | None = None
        node_path: str | None = None
        if device is not None:
            tenant_id, node_path = device.tenant_id, device.node_path
        elif msg.device is not None:
            tenant_id, node_path = msg.device.tenant_id, msg.device.node_path
        elif msg.slug:
            tenant = await self.devices.tenant(session, msg.slug)
            if tenant is not None:
                tenant_id, node_path = tenant
        return {
            "tenant_id": tenant_id,
            "node_path": node_path,
            "device_id": device.id if device else (msg.device.id if msg.device else None),
            "source": msg.source,
            "topic": msg.topic,
            "reason": reason,
            "detail": detail[:1000],
            "payload": payload[:PAYLOAD_KEEP].decode("utf-8", errors="replace"),
        }

    async def _store(self, session: AsyncSession, rows: list[Row]) -> int:
        """Binary COPY straight into the hypertable. A replayed or redelivered reading makes it fail on
        the unique index: then, rarely, the batch goes through a staging table and ON CONFLICT DO
        NOTHING, which stores only what is new."""
        payload, hours = copy_payload(rows)
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        pg: Any = raw.driver_connection
        try:
            # The driver's own savepoint: SQLAlchemy's does not roll back after an error raised by the
            # driver's COPY.
            async with pg.transaction(), pg.cursor() as cur, cur.copy(copy_statement("telemetry")) as copy:
                await copy.write(payload)
            stored = len(rows)
        except psycopg.errors.UniqueViolation:
            async with pg.cursor() as cur:
                # Every time: a rolled-back batch also rolls back the creation of the temporary table.
                await cur.execute(
                    "create temp table if not exists telemetry_stage (ts timestamptz, tenant_id int, "
                    "device_id bigint, metric_id int, value double precision) on commit delete rows"
                )
                async with cur.copy(copy_statement("telemetry_stage")) as copy:
                    await copy.write(payload)
                await cur.execute(
                    "insert into telemetry (ts, tenant_id, device_id, metric_id, value) "
                    "select ts, tenant_id, device_id, metric_id, value from telemetry_stage on conflict do nothing"
                )
                stored = int(cur.rowcount)
                await cur.execute("truncate telemetry_stage")
        # Appended, never upserted: ingest workers writing the same hour do not wait for each other.
        await session.execute(
            text("insert into rollup_dirty (bucket) select unnest(cast(:hours as timestamptz[]))"), {"hours": hours}
        )
        return stored

    async def _latest(self, session: AsyncSession, rows: list[Row]) -> None:
        """Keep telemetry_latest current. Its rows are locked until the commit, so this runs last, in
        key order (workers never deadlock, and wait for each other as briefly as possible)."""
        latest: dict[tuple[int, int], tuple[datetime, int, float]] = {}
        for ts, tenant_id, device_id, metric_id, value in rows:
            key = (device_id, metric_id)
            found = latest.get(key)
            if found is None or ts > found[0]:
                latest[key] = (ts, tenant_id, value)
        keys = sorted(latest)
        await session.execute(
            text(
                "insert into telemetry_latest (device_id, metric_id, tenant_id, ts, value) "
                "select * from unnest(cast(:d as bigint[]), cast(:m as int[]), cast(:t as int[]), "
                "cast(:ts as timestamptz[]), cast(:v as float8[])) "
                "on conflict (device_id, metric_id) do update set ts = excluded.ts, value = excluded.value "
                "where excluded.ts > telemetry_latest.ts"
            ),
            {
                "d": [k[0] for k in keys],
                "m": [k[1] for k in keys],
                "t": [latest[k][1] for k in keys],
                "ts": [latest[k][0] for k in keys],
                "v": [latest[k][2] for k in keys],
            },
        )

    async def _last_seen(self, session: AsyncSession, seen: dict[int, datetime]) -> None:
        # Sorted: rows are locked in one order by every worker (no deadlocks between workers).
        due = {
            d: seen[d]
            for d in sorted(seen)
            if d not in self.last_seen_written or seen[d] - self.last_seen_written[d] >= LAST_SEEN_EVERY
        }
        if not due:
            return
        await session.execute(
            text(
                "update devices d set last_seen_at = v.ts, status = 'online' "
                "from unnest(cast(:ids as bigint[]), cast(:ts as timestamptz[])) as v(id, ts) "
                "where d.id = v.id and d.revoked_at is null and (d.last_seen_at is null or d.last_seen_at < v.ts)"
            ),
            {"ids": list(due), "ts": list(due.values())},
        )
        self.last_seen_written.update(due)

    # ------------------------------------------------------------ rules on the stream

    async def _load_states(self, session: AsyncSession, device_ids: Sequence[int]) -> dict[tuple[int, str], _State]:
        rows = await session.execute(
            text(
                "select device_id, rule_code, phase, since, last_ts, last_value, alarm_id from rule_state "
                "where device_id = any(:ids)"
            ),
            {"ids": list(device_ids)},
        )
        return {(r.device_id, r.rule_code): _State(r.phase, r.since, r.last_ts, r.last_value, r.alarm_id) for r in rows}

    async def _rules(
        self,
        session: AsyncSession,
        candidates: dict[int, list[tuple[datetime, str, float]]],
        contexts: dict[int, DeviceContext],
        result: BatchResult,
    ) -> None:
        states = await self._load_states(session, list(candidates))
        interesting: list[int] = []
        for device_id, readings in candidates.items():
            rule_set = self.rules_for(contexts[device_id])
            if any((device_id, r.code) in states for r in rule_set.rules) or rule_set.may_act(readings):
                interesting.append(device_id)
        if not interesting:
            return
        interesting.sort()
        # Serialise rule evaluation per device across ingest workers, then read the state again.
        await session.execute(
            text("select pg_advisory_xact_lock(4242, (id % 2147483647)::int) from unnest(cast(:ids as bigint[])) id"),
            {"ids": interesting},
        )
        states = await self._load_states(session, interesting)
        upserts: dict[tuple[int, str], _State] = {}
        deletes: set[tuple[int, str]] = set()
        for device_id in interesting:
            device = contexts[device_id]
            rules = self.rules_for(device).rules
            for ts, metric, value in sorted(candidates[device_id]):
                for rule in rules:
                    key = (device_id, rule.code)
                    st = states.get(key)
                    if rule.kind == "absence" and rule.activity is not None:
                        # "No activity": track when the counter last increased (`since`); the cron job
                        # opens the alarm when that is too long ago, an increase clears it.
                        if rule.metric != metric or (st is not None and ts <= st.last_ts):
                            continue
                        if st is None:
                            st = _State("pending", ts, ts, value, None)
                            states[key], upserts[key] = st, st
                            deletes.discard(key)
                            continue
                        if value > (st.last_value if st.last_value is not None else value):
                            st.since = ts
                            if st.phase == "alarm" and st.alarm_id is not None:
                                await clear_alarm(session, alarm_id=st.alarm_id, ts=ts, value=value)
                            st.phase, st.alarm_id = "pending", None
                        st.last_ts, st.last_value = ts, value
                        upserts[key] = st
                        continue
                    if rule.kind == "absence":
                        if st is not None and st.phase == "alarm" and (rule.metric in (None, metric)):
                            if st.alarm_id is not None:
                                await clear_alarm(session, alarm_id=st.alarm_id, ts=ts, value=value)
                            states.pop(key)
                            deletes.add(key)
                            upserts.pop(key, None)
                        continue
                    if rule.metric != metric or (st is not None and ts <= st.last_ts):
                        continue
                    if rule.kind == "rate":
                        if st is None:
                            st = _State("pending", ts, ts, value, None)
                            states[key], upserts[key] = st, st
                            deletes.discard(key)
                            continue
                        hours = max((ts - st.last_ts).total_seconds() / 3600, 1e-9)
                        rate = (value - (st.last_value or 0.0)) / hours
                        abnormal = rule.above_per_hour is not None and rate > rule.above_per_hour
                        st.last_ts, st.last_value = ts, value
                        upserts[key] = st
                        if st.phase == "pending" and abnormal:
                            alarm_id, commands = await open_alarm(
                                session, device=device, rule=rule, value=rate, ts=ts, types=self.types
                            )
                            st.phase, st.alarm_id, st.since = "alarm", alarm_id, ts
                            result.commands.extend(commands)
                            if alarm_id is not None and commands is not None:
                                result.alarms_opened.append(alarm_id)
                        elif st.phase == "alarm" and not abnormal:
                            if st.alarm_id is not None:
                                await clear_alarm(session, alarm_id=st.alarm_id, ts=ts, value=rate)
                            st.phase, st.alarm_id = "pending", None
                        continue
                    abnormal = rule.abnormal(value)
                    if st is None:
                        if not abnormal:
                            continue
                        st = _State("pending", ts, ts, value, None)
                        states[key] = st
                        deletes.discard(key)
                    st.last_ts, st.last_value = ts, value
                    upserts[key] = st
                    if st.phase == "pending":
                        if not abnormal:
                            states.pop(key)
                            upserts.pop(key, None)
                            deletes.add(key)
                        elif (ts - st.since).total_seconds() >= rule.hold_s:
                            alarm_id, commands = await open_alarm(
                                session,
                                device=device,
                                rule=rule,
                                value=value,
                                ts=ts,
                                types=self.types,
                                details={"since": st.since.isoformat(), "metric": metric},
                            )
                            st.phase, st.alarm_id = "alarm", alarm_id
                            result.commands.extend(commands)
                            if alarm_id is not None:
                                result.alarms_opened.append(alarm_id)
                    elif st.phase == "alarm" and rule.cleared(value):
                        if st.alarm_id is not None:
                            await clear_alarm(session, alarm_id=st.alarm_id, ts=ts, value=value)
                        states.pop(key)
                        upserts.pop(key, None)
                        deletes.add(key)
        if deletes:
            await session.execute(
                text(
                    "delete from rule_state where (device_id, rule_code) in "
                    "(select * from unnest(cast(:d as bigint[]), cast(:r as text[])))"
                ),
                {"d": [k[0] for k in sorted(deletes)], "r": [k[1] for k in sorted(deletes)]},
            )
        if upserts:
            await session.execute(
                text(
                    "insert into rule_state (device_id, rule_code, phase, since, last_ts, last_value, alarm_id) "
                    "values (:d, :r, :phase, :since, :last_ts, :last_value, :alarm_id) "
                    "on conflict (device_id, rule_code) do update set phase = excluded.phase, since = excluded.since, "
                    "last_ts = excluded.last_ts, last_value = excluded.last_value, alarm_id = excluded.alarm_id"
                ),
                [
                    {
                        "d": k[0],
                        "r": k[1],
                        "phase": s.phase,
                        "since": s.since,
                        "last_ts": s.last_ts,
                        "last_value": s.last_value,
                        "alarm_id": s.alarm_id,
                    }
                    for k, s in sorted(upserts.items())
                ],
            )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
