"""The batch writer shared by MQTT and HTTP ingest: the database part.

One batch = one transaction: readings are validated against their device type (anything refused goes
to `dead_letters` with the reason, see `decode`), binary-COPied into the hypertable (`copyformat`;
a replayed message goes through a staging table and ON CONFLICT DO NOTHING, so it stores nothing
twice); `telemetry_latest`, the rollups' dirty hours and the rules' state (`rules_eval`) are updated
in the same transaction. Callers acknowledge MQTT messages only after `write` returned (the commit
happened).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import catalog
from linli.iot.alarms import DeviceContext, clear_alarm, device_context, open_alarm
from linli.iot.catalog import (
    Override,
    TypeRegistry,
    TypeSpec,
    effective_rules,
    load_metric_ids,
    load_overrides,
    load_types,
)
from linli.iot.commands import PendingCommand, acknowledge_command
from linli.iot.ingest.copyformat import Row, copy_payload, copy_statement
from linli.iot.ingest.decode import (
    Accepts,
    IngestError,
    Message,
    Refusal,
    Target,
    Unchecked,
    accepts_of,
    check_metric,
    decode,
    parse,
    refused_reading,
    utcnow,
)
from linli.iot.ingest.rules_eval import (
    Candidate,
    OpenAlarm,
    RuleSet,
    RuleState,
    StateKey,
    evaluate,
    interesting,
)
from linli.iot.worker_repository import IngestRepository, RuleStateRepository
from linli.platform import metrics
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.security import sha256_hex

PAYLOAD_KEEP = 4000
CACHE_TTL_S = 30.0
MISS_TTL_S = 3.0
# How soon a suspension reaches the MQTT path (HTTP checks at authentication): one small query per period.
TENANT_STATUS_TTL_S = 5.0
LAST_SEEN_EVERY = timedelta(seconds=60)


@dataclass
class BatchResult:
    accepted: int = 0
    stored: int = 0
    dead: int = 0
    acks: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    dead_reasons: Counter[str] = field(default_factory=Counter)
    commands: list[PendingCommand] = field(default_factory=list)
    alarms_opened: list[int] = field(default_factory=list)


def _count_batch(messages: Sequence[Message], result: BatchResult, seconds: float) -> None:
    """Metrics of a committed batch: a few updates per batch, nothing per reading. Messages come in
    arrival order, so the first is the oldest."""
    metrics.INGEST_BATCH_SECONDS.observe(seconds)
    metrics.INGEST_READINGS_STORED.inc(result.stored)
    for reason, count in result.dead_reasons.items():
        metrics.INGEST_DEAD_LETTERS.labels(reason).inc(count)
    if messages:
        metrics.INGEST_MESSAGES.labels(messages[0].source).inc(len(messages))
        metrics.INGEST_LAG_SECONDS.set((utcnow() - messages[0].received_at).total_seconds())
    metrics.INGEST_LAST_BATCH.set_to_current_time()


class DeviceCache:
    """Devices by (tenant slug, serial) and by token hash, loaded on a miss, kept for a short time; and
    which tenants are not active."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], tuple[DeviceContext | None, bool, float]] = {}
        self.tenants: dict[str, tuple[int, str]] = {}
        self.tenants_loaded = 0.0
        # Tenants that are not active themselves or lie inside one that is not: id -> that status.
        self.inactive: dict[int, str] = {}
        self.inactive_loaded = -1e9

    async def tenant(self, session: AsyncSession, slug: str) -> tuple[int, str] | None:
        if slug not in self.tenants and time.monotonic() - self.tenants_loaded > MISS_TTL_S:
            self.tenants = {s: (i, p) for s, i, p in await IngestRepository(session).tenants()}
            self.tenants_loaded = time.monotonic()
        return self.tenants.get(slug)

    async def refresh_inactive(self, session: AsyncSession) -> dict[int, str]:
        if time.monotonic() - self.inactive_loaded > TENANT_STATUS_TTL_S:
            self.inactive = await IngestRepository(session).inactive_tenants()
            self.inactive_loaded = time.monotonic()
        return self.inactive

    async def resolve(self, session: AsyncSession, keys: Iterable[tuple[str, str]]) -> None:
        clock = time.monotonic()
        missing = [k for k in set(keys) if k not in self.by_key or self.by_key[k][2] < clock]
        if not missing:
            return
        by_slug: dict[str, list[str]] = defaultdict(list)
        for slug, serial in missing:
            by_slug[slug].append(serial)
        found: set[tuple[str, str]] = set()
        repo = IngestRepository(session)
        for slug, serials in by_slug.items():
            for r in await repo.devices_by_serial(slug, serials):
                self.by_key[(slug, r.serial)] = (device_context(r), bool(r.revoked), clock + CACHE_TTL_S)
                found.add((slug, r.serial))
        for key in missing:
            if key not in found:
                self.by_key[key] = (None, False, clock + MISS_TTL_S)

    def get(self, slug: str, serial: str) -> tuple[DeviceContext | None, bool]:
        entry = self.by_key.get((slug, serial))
        return (entry[0], entry[1]) if entry else (None, False)

    async def by_token(self, session: AsyncSession, token: str) -> DeviceContext | None:
        row = await IngestRepository(session).active_device_by_token_hash(sha256_hex(token))
        return None if row is None else device_context(row)


class IngestWriter:
    def __init__(self) -> None:
        self.devices = DeviceCache()
        self.types = TypeRegistry({})
        self.metric_ids: dict[str, int] = {}
        self.overrides: list[Override] = []
        self.loaded_at = -1e9
        self.rules_cache: dict[tuple[str, str], RuleSet] = {}
        self.accepts_cache: dict[int, Accepts] = {}
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

    def spec_for(self, device: DeviceContext) -> TypeSpec | None:
        return self.types.get(device.type_code, device.node_path)

    def rules_for(self, device: DeviceContext) -> RuleSet:
        key = (device.type_code, device.node_path)
        found = self.rules_cache.get(key)
        if found is None:
            spec = self.spec_for(device)
            found = RuleSet(effective_rules(spec, device.node_path, self.overrides) if spec else ())
            self.rules_cache[key] = found
        return found

    def _sender(self, msg: Message) -> DeviceContext | None:
        return msg.device or self.devices.get(msg.slug or "", msg.serial or "")[0]

    def _target(self, device: DeviceContext) -> Target:
        """What a batch needs of a device: the metrics its type accepts (id, range, flag) and its rules."""
        spec = self.spec_for(device)
        accepts = self.accepts_cache.get(id(spec)) if spec is not None else {}
        if accepts is None and spec is not None:
            accepts = self.accepts_cache[id(spec)] = accepts_of(spec, self.metric_ids)
        return Target(device, accepts or {}, self.rules_for(device))

    async def authenticate(self, token: str) -> DeviceContext | None:
        async with scoped_session(SYSTEM_SCOPE) as session:
            return await self.devices.by_token(session, token)

    async def record_failure(self, msg: Message, detail: str) -> None:
        """Best effort: keep a message that broke the writer as a dead letter (reason internal_error)."""
        try:
            async with scoped_session(SYSTEM_SCOPE) as session:
                row = await self._dead_row(session, Refusal(msg, None, "internal_error", detail, msg.payload))
                await IngestRepository(session).add_dead_letters([row])
            metrics.INGEST_DEAD_LETTERS.labels("internal_error").inc()
        except Exception:
            logging.getLogger(__name__).exception("could not record the failed message as a dead letter")

    async def write(self, messages: Sequence[Message], *, acks: Sequence[Message] = ()) -> BatchResult:
        started = time.perf_counter()
        async with scoped_session(SYSTEM_SCOPE) as session:
            result = await self._write(session, messages, acks)
        _count_batch(messages, result, time.perf_counter() - started)
        return result

    # ------------------------------------------------------------ the transaction

    async def _write(self, session: AsyncSession, messages: Sequence[Message], acks: Sequence[Message]) -> BatchResult:
        await self.refresh(session)
        result = BatchResult()
        await self.devices.resolve(
            session, {(m.slug, m.serial) for m in messages if m.device is None and m.slug and m.serial}
        )
        parsed = parse(messages, self._sender)
        await self.devices.resolve(session, parsed.keys)
        first_seen = await self._first_seen(session, parsed.bodies)
        inactive = await self.devices.refresh_inactive(session)
        decoded = decode(
            parsed.bodies,
            lookup=self.devices.get,
            target_for=self._target,
            spec_for=self.spec_for,
            metric_ids=self.metric_ids,
            first_seen=first_seen,
            inactive=inactive,
        )
        rows = decoded.rows
        refused = parsed.refused + await self._recheck(session, rows, decoded.refused)
        targets = decoded.targets
        candidates = {d: t.candidates for d, t in targets.items() if t.candidates}
        contexts = {d: t.device for d, t in targets.items()}
        seen = {d: t.last_ts for d, t in targets.items() if t.last_ts is not None}
        result.accepted = len(rows)
        result.dead = len(refused)
        result.errors = [{"reason": r.reason, "detail": r.detail[:1000]} for r in refused[:50]]
        result.dead_reasons = Counter(r.reason for r in refused)

        repo = IngestRepository(session)
        if rows:
            result.stored = await self._store(session, rows)
        if refused:
            await repo.add_dead_letters([await self._dead_row(session, r) for r in refused])
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
            await self._latest(repo, rows)
            await self._last_seen(repo, seen)
        return result

    async def _recheck(
        self, session: AsyncSession, rows: list[Row], refused: list[Refusal | Unchecked]
    ) -> list[Refusal]:
        """Readings of metrics the loaded types did not know may belong to a type a tenant just defined
        or changed: look again (at most every MISS_TTL_S) before refusing them. Keeps the order."""
        if not any(isinstance(r, Unchecked) for r in refused):
            return cast(list[Refusal], refused)
        if time.monotonic() - self.loaded_at > MISS_TTL_S:
            await self.refresh(session, force=True)
        out: list[Refusal] = []
        for item in refused:
            if isinstance(item, Refusal):
                out.append(item)
                continue
            device = item.target.device
            try:
                metric_id, value = check_metric(self.spec_for(device), self.metric_ids, device, item.metric, item.raw)
            except IngestError as exc:
                out.append(
                    Refusal(
                        item.msg,
                        device,
                        exc.reason,
                        exc.detail,
                        refused_reading(device, item.raw_ts, item.metric, item.raw),
                    )
                )
                continue
            item.target.add(rows, item.ts, item.metric, metric_id, value)
        return out

    async def _first_seen(
        self, session: AsyncSession, bodies: list[tuple[Message, dict[str, Any]]]
    ) -> dict[int, datetime]:
        """A message without `ts` but with an `id` keeps the time of its first delivery, so a redelivery
        stores nothing twice (`ingest_dedup`)."""
        wanted: dict[tuple[int, str], list[Message]] = defaultdict(list)
        for msg, body in bodies:
            message_id = body.get("id")
            if body.get("ts") is not None or "metrics" not in body or not isinstance(message_id, str | int):
                continue
            sender = self._sender(msg)
            if sender is not None and len(str(message_id)) <= 128:
                wanted[(sender.id, str(message_id))].append(msg)
        if not wanted:
            return {}
        keys = list(wanted)
        rows = await IngestRepository(session).first_deliveries(
            [k[0] for k in keys], [k[1] for k in keys], [wanted[k][0].received_at for k in keys]
        )
        fixed: dict[int, datetime] = {}
        for device_id, message_id, ts in rows:
            for msg in wanted.get((device_id, message_id), []):
                fixed[id(msg)] = ts
        return fixed

    async def _dead_row(self, session: AsyncSession, refusal: Refusal) -> dict[str, Any]:
        msg, device = refusal.msg, refusal.device
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
            "reason": refusal.reason,
            "detail": refusal.detail[:1000],
            "payload": refusal.payload[:PAYLOAD_KEEP].decode("utf-8", errors="replace"),
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
        await IngestRepository(session).mark_dirty(hours)
        return stored

    async def _latest(self, repo: IngestRepository, rows: list[Row]) -> None:
        """Keep telemetry_latest current. Its rows are locked until the commit, so this runs last, in
        key order (workers never deadlock, and wait for each other as briefly as possible)."""
        latest: dict[tuple[int, int], tuple[datetime, int, float]] = {}
        for ts, tenant_id, device_id, metric_id, value in rows:
            key = (device_id, metric_id)
            found = latest.get(key)
            if found is None or ts > found[0]:
                latest[key] = (ts, tenant_id, value)
        keys = sorted(latest)
        await repo.upsert_latest(
            [k[0] for k in keys],
            [k[1] for k in keys],
            [latest[k][1] for k in keys],
            [latest[k][0] for k in keys],
            [latest[k][2] for k in keys],
        )

    async def _last_seen(self, repo: IngestRepository, seen: dict[int, datetime]) -> None:
        # Sorted: rows are locked in one order by every worker (no deadlocks between workers).
        due = {
            d: seen[d]
            for d in sorted(seen)
            if d not in self.last_seen_written or seen[d] - self.last_seen_written[d] >= LAST_SEEN_EVERY
        }
        if not due:
            return
        await repo.mark_seen(list(due), list(due.values()))
        self.last_seen_written.update(due)

    # ------------------------------------------------------------ rules on the stream

    async def _load_states(self, repo: RuleStateRepository, device_ids: Sequence[int]) -> dict[StateKey, RuleState]:
        return {
            (r.device_id, r.rule_code): RuleState(r.phase, r.since, r.last_ts, r.last_value, r.alarm_id)
            for r in await repo.load(device_ids)
        }

    async def _rules(
        self,
        session: AsyncSession,
        candidates: dict[int, list[Candidate]],
        contexts: dict[int, DeviceContext],
        result: BatchResult,
    ) -> None:
        repo = RuleStateRepository(session)
        states = await self._load_states(repo, list(candidates))
        devices = interesting(candidates, contexts, self.rules_for, states)
        if not devices:
            return
        # Serialise rule evaluation per device across ingest workers, then read the state again.
        await repo.lock_devices(devices)
        states = await self._load_states(repo, devices)
        evaluation = evaluate(devices, candidates, contexts, self.rules_for, states)
        for effect in evaluation.effects:
            if isinstance(effect, OpenAlarm):
                alarm_id, commands = await open_alarm(
                    session,
                    device=effect.device,
                    rule=effect.rule,
                    value=effect.value,
                    ts=effect.ts,
                    types=self.types,
                    details=effect.details,
                )
                effect.alarm_id = alarm_id
                result.commands.extend(commands)
                if alarm_id is not None:
                    result.alarms_opened.append(alarm_id)
            elif (alarm_id := effect.alarm_id()) is not None:
                await clear_alarm(session, alarm_id=alarm_id, ts=effect.ts, value=effect.value)
        if evaluation.deletes:
            await repo.delete(sorted(evaluation.deletes))
        if evaluation.upserts:
            await repo.upsert(
                [
                    {
                        "d": k[0],
                        "r": k[1],
                        "phase": s.phase,
                        "since": s.since,
                        "last_ts": s.last_ts,
                        "last_value": s.last_value,
                        "alarm_id": s.alarm_id(),
                    }
                    for k, s in sorted(evaluation.upserts.items())
                ]
            )
