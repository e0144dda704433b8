"""Queries of the worker role: telemetry and its rollups (worker-only tables, never granted to the API
role), the ingest writer's lookups across tenants, the rules' state. The binary COPY into the hypertable
is the writer's own (it needs the driver's connection)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

DEVICE_COLUMNS = (
    "d.id, d.tenant_id, t.slug, d.node_id, d.node_path::text as node_path, d.type_code, d.serial, d.location, d.gateway"
)
STATE_COLUMNS = "device_id, rule_code, phase, since, last_ts, last_value, alarm_id"


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tenants(self) -> list[tuple[str, int, str]]:
        """Every tenant: slug, id, node path."""
        rows = await self.session.execute(text("select slug, id, node_path::text from tenants"))
        return [(str(s), int(i), str(p)) for s, i, p in rows]

    async def inactive_tenants(self) -> dict[int, str]:
        """Tenants not active themselves or inside one that is not: id -> that status."""
        rows = await self.session.execute(
            text(
                "select t.id, o.status from tenants t join tenants o on o.node_path @> t.node_path "
                "where o.status <> 'active'"
            )
        )
        return {int(i): str(s) for i, s in rows}

    async def devices_by_serial(self, slug: str, serials: Sequence[str]) -> Sequence[Row[Any]]:
        rows = await self.session.execute(
            text(
                f"select {DEVICE_COLUMNS}, d.revoked_at is not null as revoked from devices d "
                "join tenants t on t.id = d.tenant_id where t.slug = :slug and d.serial = any(:serials)"
            ),
            {"slug": slug, "serials": list(serials)},
        )
        return rows.all()

    async def active_device_by_token_hash(self, token_hash: str) -> Row[Any] | None:
        """Not revoked, and no tenant around it suspended or offboarded."""
        row = await self.session.execute(
            text(
                f"select {DEVICE_COLUMNS} from devices d join tenants t on t.id = d.tenant_id "
                "where d.token_hash = :h and d.revoked_at is null and not exists (select 1 from tenants o "
                "where o.node_path @> t.node_path and o.status <> 'active')"
            ),
            {"h": token_hash},
        )
        return row.first()

    async def active_device_login(self, username: str) -> Row[Any] | None:
        """The MQTT login of a device not revoked and in no suspended or offboarded tenant: slug, serial,
        mqtt_password_hash. One lookup on the unique index of `mqtt_username`."""
        row = await self.session.execute(
            text(
                "select t.slug, d.serial, d.mqtt_password_hash from devices d join tenants t on t.id = d.tenant_id "
                "where d.mqtt_username = :u and d.revoked_at is null and not exists (select 1 from tenants o "
                "where o.node_path @> t.node_path and o.status <> 'active')"
            ),
            {"u": username},
        )
        return row.first()

    async def first_deliveries(
        self, device_ids: Sequence[int], message_ids: Sequence[str], received: Sequence[datetime]
    ) -> list[tuple[int, str, datetime]]:
        """Record each (device, message id) once; returns the time of its first delivery."""
        rows = await self.session.execute(
            text(
                "insert into ingest_dedup (device_id, message_id, ts) select * from unnest(cast(:d as bigint[]), "
                "cast(:m as text[]), cast(:t as timestamptz[])) on conflict (device_id, message_id) "
                "do update set ts = ingest_dedup.ts returning device_id, message_id, ts"
            ),
            {"d": list(device_ids), "m": list(message_ids), "t": list(received)},
        )
        return [(int(d), str(m), t) for d, m, t in rows]

    async def add_dead_letters(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(
            text(
                "insert into dead_letters (tenant_id, node_path, device_id, source, topic, reason, detail, "
                "payload) values (:tenant_id, text2ltree(:node_path), :device_id, :source, :topic, :reason, "
                ":detail, :payload)"
            ),
            list(rows),
        )

    async def mark_dirty(self, hours: Sequence[datetime]) -> None:
        # Appended, never upserted: ingest workers writing the same hour do not wait for each other.
        await self.session.execute(
            text("insert into rollup_dirty (bucket) select unnest(cast(:hours as timestamptz[]))"),
            {"hours": list(hours)},
        )

    async def upsert_latest(
        self,
        device_ids: Sequence[int],
        metric_ids: Sequence[int],
        tenant_ids: Sequence[int],
        ts: Sequence[datetime],
        values: Sequence[float],
    ) -> None:
        await self.session.execute(
            text(
                "insert into telemetry_latest (device_id, metric_id, tenant_id, ts, value) "
                "select * from unnest(cast(:d as bigint[]), cast(:m as int[]), cast(:t as int[]), "
                "cast(:ts as timestamptz[]), cast(:v as float8[])) "
                "on conflict (device_id, metric_id) do update set ts = excluded.ts, value = excluded.value "
                "where excluded.ts > telemetry_latest.ts"
            ),
            {"d": list(device_ids), "m": list(metric_ids), "t": list(tenant_ids), "ts": list(ts), "v": list(values)},
        )

    async def mark_seen(self, device_ids: Sequence[int], ts: Sequence[datetime]) -> None:
        await self.session.execute(
            text(
                "update devices d set last_seen_at = v.ts, status = 'online' "
                "from unnest(cast(:ids as bigint[]), cast(:ts as timestamptz[])) as v(id, ts) "
                "where d.id = v.id and d.revoked_at is null and (d.last_seen_at is null or d.last_seen_at < v.ts)"
            ),
            {"ids": list(device_ids), "ts": list(ts)},
        )


class RuleStateRepository:
    """What the stream rules keep per device and rule (worker-only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, device_ids: Sequence[int]) -> Sequence[Row[Any]]:
        rows = await self.session.execute(
            text(f"select {STATE_COLUMNS} from rule_state where device_id = any(:ids)"), {"ids": list(device_ids)}
        )
        return rows.all()

    async def lock_devices(self, device_ids: Sequence[int]) -> None:
        """Serialise rule evaluation per device across ingest workers (until the commit)."""
        await self.session.execute(
            text("select pg_advisory_xact_lock(4242, (id % 2147483647)::int) from unnest(cast(:ids as bigint[])) id"),
            {"ids": list(device_ids)},
        )

    async def delete(self, keys: Sequence[tuple[int, str]]) -> None:
        await self.session.execute(
            text(
                "delete from rule_state where (device_id, rule_code) in "
                "(select * from unnest(cast(:d as bigint[]), cast(:r as text[])))"
            ),
            {"d": [k[0] for k in keys], "r": [k[1] for k in keys]},
        )

    async def upsert(self, states: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(
            text(
                f"insert into rule_state ({STATE_COLUMNS}) values (:d, :r, :phase, :since, :last_ts, :last_value, "
                ":alarm_id) on conflict (device_id, rule_code) do update set phase = excluded.phase, "
                "since = excluded.since, last_ts = excluded.last_ts, last_value = excluded.last_value, "
                "alarm_id = excluded.alarm_id"
            ),
            list(states),
        )

    async def open_silence(
        self, *, device_id: int, rule_code: str, at: datetime, seen: datetime, alarm_id: int
    ) -> None:
        """An absence alarm the cron job opened (the next reading clears it)."""
        await self.session.execute(
            text(
                "insert into rule_state (device_id, rule_code, phase, since, last_ts, alarm_id) values "
                "(:d, :r, 'alarm', :at, :seen, :a) on conflict (device_id, rule_code) do nothing"
            ),
            {"d": device_id, "r": rule_code, "at": at, "seen": seen, "a": alarm_id},
        )

    async def mark_alarm(self, *, device_id: int, rule_code: str, alarm_id: int) -> None:
        await self.session.execute(
            text("update rule_state set phase = 'alarm', alarm_id = :a where device_id = :d and rule_code = :r"),
            {"a": alarm_id, "d": device_id, "r": rule_code},
        )


class TelemetryRepository:
    """Rollups and retention of the telemetry (the API reads a device's series through
    `linli_device_telemetry`, in `repository.TelemetryReadRepository`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take_dirty_hours(self, *, settle_s: float, limit: int) -> list[datetime]:
        """Remove and return the dirty hours whose marks settled (marks of batches not yet committed
        are invisible: they stay for a later run)."""
        rows = await self.session.execute(
            text(
                "delete from rollup_dirty where marked_at < now() - make_interval(secs => :settle) and bucket in "
                "(select distinct bucket from rollup_dirty where marked_at < now() - make_interval(secs => :settle) "
                "order by bucket limit :limit) returning bucket"
            ),
            {"settle": settle_s, "limit": limit},
        )
        return sorted({r[0] for r in rows})

    async def rebuild_hour(self, hour: datetime) -> None:
        await self.session.execute(text("delete from telemetry_1h where bucket = :h"), {"h": hour})
        await self.session.execute(
            text(
                "insert into telemetry_1h (device_id, metric_id, bucket, tenant_id, n, min, max, avg) "
                "select device_id, metric_id, :h, min(tenant_id), count(*), min(value), max(value), avg(value) "
                "from telemetry where ts >= :h and ts < :h + interval '1 hour' group by device_id, metric_id"
            ),
            {"h": hour},
        )

    async def rebuild_day(self, day: datetime) -> None:
        await self.session.execute(text("delete from telemetry_1d where bucket = :d"), {"d": day})
        await self.session.execute(
            text(
                "insert into telemetry_1d (device_id, metric_id, bucket, tenant_id, n, min, max, avg) "
                "select device_id, metric_id, :d, min(tenant_id), sum(n), min(min), max(max), sum(avg * n) / sum(n) "
                "from telemetry_1h where bucket >= :d and bucket < :d + interval '1 day' group by device_id, metric_id"
            ),
            {"d": day},
        )

    async def advance_watermark(self, name: str, watermark: datetime) -> None:
        await self.session.execute(
            text(
                "insert into rollup_watermarks (name, watermark) values (:n, :w) on conflict (name) "
                "do update set watermark = greatest(rollup_watermarks.watermark, excluded.watermark)"
            ),
            {"n": name, "w": watermark},
        )

    async def drop_raw_older_than(self, seconds: float) -> int:
        """Drop whole raw chunks (`drop_chunks`); returns how many."""
        rows = await self.session.execute(
            text("select drop_chunks('telemetry', older_than => now() - make_interval(secs => :s))"), {"s": seconds}
        )
        return len(rows.all())

    async def prune_dedup(self) -> None:
        await self.session.execute(text("delete from ingest_dedup where received_at < now() - interval '7 days'"))


# Devices under the node a tenant's type is defined at (:root NULL: a catalog type, everywhere).
UNDER_ROOT = "and (cast(:root as text) is null or d.node_path <@ text2ltree(:root))"


class AbsenceRepository:
    """What the absence rules' cron job looks for."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def silent_devices(self, *, type_code: str, root: str | None, cutoff: datetime) -> Sequence[Row[Any]]:
        """Devices of the type (defined at `root`) not heard of since `cutoff`, with `seen`."""
        rows = await self.session.execute(
            text(
                f"select {DEVICE_COLUMNS}, coalesce(d.last_seen_at, d.created_at) as seen from devices d "
                "join tenants t on t.id = d.tenant_id where d.type_code = :t and d.revoked_at is null "
                f"and coalesce(d.last_seen_at, d.created_at) < :cutoff {UNDER_ROOT}"
            ),
            {"t": type_code, "root": root, "cutoff": cutoff},
        )
        return rows.all()

    async def inactive_counters(
        self, *, type_code: str, root: str | None, rule_codes: Sequence[str], cutoff: datetime
    ) -> Sequence[Row[Any]]:
        """Pending activity rules whose counter last increased before `cutoff` (rule_code, since, device)."""
        rows = await self.session.execute(
            text(
                f"select s.rule_code, s.since, {DEVICE_COLUMNS} from rule_state s join devices d on d.id = s.device_id "
                "join tenants t on t.id = d.tenant_id where d.type_code = :t and s.phase = 'pending' "
                f"and s.rule_code = any(:codes) and s.since < :cutoff and d.revoked_at is null {UNDER_ROOT}"
            ),
            {"t": type_code, "root": root, "codes": list(rule_codes), "cutoff": cutoff},
        )
        return rows.all()
