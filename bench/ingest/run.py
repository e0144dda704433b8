"""Ingest benchmark: raw binary COPY into the telemetry hypertable (baseline) versus end to end
MQTT publish -> committed rows, with the stream rules on, for gateway batches and single-reading
messages; zero-loss accounting (readings PUBACKed by the broker = rows stored).

Runs against a database of its own (dropped and re-created), so it never touches demo data.
Ends with: RESULT ingest readings_per_s=<n> single_msgs_per_s=<n> copy_ratio=<r> lost=<n>
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

PG = os.environ.get("LINLI_BENCH_PG", "127.0.0.1:55432")
DB = os.environ.get("LINLI_BENCH_DATABASE", "linli_bench_ingest")
ENV = {
    "LINLI_DATABASE_URL": f"postgresql+psycopg://linli_api:linli_api@{PG}/{DB}",
    "LINLI_WORKER_DATABASE_URL": f"postgresql+psycopg://linli_worker:linli_worker@{PG}/{DB}",
    "LINLI_MIGRATE_DATABASE_URL": f"postgresql+psycopg://postgres@{PG}/{DB}",
    "LINLI_LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import psycopg  # noqa: E402
from paho.mqtt.reasoncodes import ReasonCode  # noqa: E402

from linli.iot import broker  # noqa: E402
from linli.platform.broker import broker_address, new_client  # noqa: E402

DEVICES = int(os.environ.get("BENCH_DEVICES", "2000"))
GATEWAY_READINGS = int(os.environ.get("BENCH_GATEWAY_READINGS", "1200000"))
BATCH_DEVICES = 100  # readings per gateway message (devices), 3 metrics each
SINGLE_MSGS = int(os.environ.get("BENCH_SINGLE_MSGS", "150000"))
COPY_ROWS = int(os.environ.get("BENCH_COPY_ROWS", "1000000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SINGLE_PUBLISHERS = 10
SLUG = "bench"
METRICS = ("h2s_ppm", "ch4_lel_pct", "level_pct")  # septic_tank_monitor: three threshold rules


def setup_database() -> None:
    with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DB}" with (force)')
        conn.execute(f'create database "{DB}"')
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = ENV["LINLI_MIGRATE_DATABASE_URL"]
    command.upgrade(config, "head")
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from linli.platform.catalogs.seed import seed_catalogs

    async def seed() -> None:
        engine = create_async_engine(ENV["LINLI_MIGRATE_DATABASE_URL"])
        async with engine.begin() as conn:
            await seed_catalogs(AsyncSession(bind=conn))
        await engine.dispose()

    asyncio.run(seed())
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}", autocommit=True) as conn:
        node_id = conn.execute(
            "insert into nodes (level, code, name, node_path) values ('community', 'bench', 'Bench', 'bench') "
            "returning id"
        ).fetchone()[0]  # type: ignore[index]
        tenant_id = conn.execute(
            "insert into tenants (node_id, node_path, slug) values (%s, 'bench', %s) returning id", (node_id, SLUG)
        ).fetchone()[0]  # type: ignore[index]
        with conn.cursor().copy(
            "copy devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, mqtt_username) "
            "from stdin"
        ) as copy:
            for i in range(DEVICES):
                copy.write_row(
                    (tenant_id, node_id, "bench", "septic_tank_monitor", f"D{i}", "{}", f"h{i}", f"bench.D{i}")
                )
            copy.write_row((tenant_id, node_id, "bench", "energy_meter", "GW-1", "{}", "hgw", "bench.GW-1"))


def copy_baseline() -> float:
    """Raw binary COPY of COPY_ROWS rows straight into the hypertable, as the worker role."""
    base = datetime.now(UTC) - timedelta(days=3)
    rows = [(base + timedelta(seconds=i // 1000), 1, 10_000_000 + i % 1000, 1, float(i % 97)) for i in range(COPY_ROWS)]
    with psycopg.connect(f"postgresql://linli_worker:linli_worker@{PG}/{DB}") as conn:
        started = time.perf_counter()
        with conn.cursor().copy(
            "copy telemetry (ts, tenant_id, device_id, metric_id, value) from stdin (format binary)"
        ) as copy:
            copy.set_types(["timestamptz", "int4", "int8", "int2", "float8"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("delete from telemetry where device_id >= 10000000")
        conn.commit()
    return COPY_ROWS / elapsed


def stored_rows() -> int:
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}") as conn:
        return int(conn.execute("select count(*) from telemetry where device_id < 10000000").fetchone()[0])  # type: ignore[index]


class Publisher:
    """Single-threaded paho publisher (paho's own thread costs far more per message), QoS 1, with a
    bounded in-flight window; counts readings whose PUBLISH the broker acknowledged."""

    WINDOW = 200

    def __init__(self) -> None:
        self.acked = 0
        self.failed = 0
        self.inflight = 0
        self.weights: dict[int, int] = {}
        self.client = new_client(
            f"bench-pub-{uuid.uuid4().hex[:8]}", username=broker.SERVICE_USER, password=broker.service_password()
        )
        self.client.max_inflight_messages_set(self.WINDOW)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish

    def _on_publish(self, c: object, u: object, mid: int, reason: ReasonCode, p: object) -> None:
        weight = self.weights.pop(mid, 0)
        self.inflight -= 1
        if reason.is_failure:
            self.failed += weight
        else:
            self.acked += weight

    def start(self) -> None:
        address = broker_address()
        self.client.connect(address.host, address.port, keepalive=60)
        for _ in range(20):
            self.client.loop(0.05)

    def publish(self, topic: str, payload: bytes, weight: int) -> None:
        while self.inflight >= self.WINDOW:
            self.client.loop(0.01)
        info = self.client.publish(topic, payload, qos=1)
        self.inflight += 1
        self.weights[info.mid] = weight

    def drain(self) -> None:
        deadline = time.perf_counter() + 30
        while self.inflight > 0 and time.perf_counter() < deadline:
            self.client.loop(0.01)

    def stop(self) -> None:
        self.client.disconnect()


def device_ids() -> dict[str, int]:
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}") as conn:
        return {serial: int(i) for serial, i in conn.execute("select serial, id from devices")}


def wait_stored(
    target: int, started: float, tail: list[tuple[int, datetime]], per_reading: int, limit_s: float = 90
) -> tuple[int, float]:
    """Wait until the last messages' readings are stored, by index probes on (device, ts) that cost the
    database next to nothing (counting the hypertable every 0.1 s took most of a core from the run it
    measured), then count once. The time ends where that count's snapshot began: every row it saw was
    committed by then."""
    probe = (
        "select count(*) from telemetry t join unnest(%s::bigint[], %s::timestamptz[]) as p(d, ts) "
        "on t.device_id = p.d and t.ts = p.ts"
    )
    tail_rows = len(set(tail)) * per_reading
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}", autocommit=True) as conn:
        while True:
            now = time.perf_counter()
            done = conn.execute(probe, ([d for d, _ in tail], [t for _, t in tail])).fetchone()[0] >= tail_rows  # type: ignore[index]
            if done or now - started > limit_s:
                n = int(conn.execute("select count(*) from telemetry where device_id < 10000000").fetchone()[0])  # type: ignore[index]
                if n >= target or now - started > limit_s:
                    return n, now - started
            time.sleep(0.5 if done else 0.05)


def run_gateway(pub: Publisher, t0: datetime, ids: dict[str, int]) -> tuple[int, int, float]:
    """Payloads are built before the clock starts: the benchmark measures ingest, not its own JSON."""
    messages = GATEWAY_READINGS // (BATCH_DEVICES * len(METRICS))
    topic = broker.topic(SLUG, "GW-1", "telemetry")
    payloads: list[bytes] = []
    tail: list[tuple[int, datetime]] = []
    for m in range(messages):
        at = t0 + timedelta(milliseconds=m)
        serials = [f"D{(m * BATCH_DEVICES + k) % DEVICES}" for k in range(BATCH_DEVICES)]
        readings = [
            {
                "serial": serial,
                "ts": at.isoformat(),
                "metrics": {"h2s_ppm": 1.0 + k % 5, "ch4_lel_pct": 2.0, "level_pct": 40.0 + m % 10},
            }
            for k, serial in enumerate(serials)
        ]
        payloads.append(orjson.dumps({"readings": readings}))
        if m >= messages - 20:
            tail += [(ids[serial], at) for serial in serials]
    before = stored_rows()
    started = time.perf_counter()
    for payload in payloads:
        pub.publish(topic, payload, BATCH_DEVICES * len(METRICS))
    pub.drain()
    print(f"  gateway messages published in {time.perf_counter() - started:.1f}s", flush=True)
    published = messages * BATCH_DEVICES * len(METRICS)
    stored, elapsed = wait_stored(before + published, started, tail, len(METRICS))
    return published, stored - before, elapsed


def run_single(t0: datetime, ids: dict[str, int]) -> tuple[int, int, float]:
    """Single-reading messages from SINGLE_PUBLISHERS C clients (mosquitto_pub -l, QoS 1, one device each):
    the Python client alone cannot generate 15 000 messages/s on this machine."""
    files = []
    per = SINGLE_MSGS // SINGLE_PUBLISHERS
    for k in range(SINGLE_PUBLISHERS):
        path = Path(f"/tmp/linli-bench-single-{k}.jsonl")
        with path.open("w") as fh:
            for m in range(per):
                ts = (t0 + timedelta(milliseconds=m)).isoformat()
                fh.write(orjson.dumps({"ts": ts, "metrics": {"h2s_ppm": 1.5}}).decode() + "\n")
        files.append(path)
    address = broker_address()
    before = stored_rows()
    started = time.perf_counter()
    procs = []
    for k, path in enumerate(files):
        with path.open("rb") as fh:
            procs.append(
                subprocess.Popen(
                    [
                        "mosquitto_pub",
                        "-h",
                        address.host,
                        "-p",
                        str(address.port),
                        "-u",
                        broker.SERVICE_USER,
                        "-P",
                        broker.service_password(),
                        "-q",
                        "1",
                        "-l",
                        "-t",
                        broker.topic(SLUG, f"D{k}", "telemetry"),
                        "-i",
                        f"bench-single-{k}-{uuid.uuid4().hex[:6]}",
                    ],
                    stdin=fh,
                )
            )
    published = 0
    for proc in procs:
        try:
            ok = proc.wait(timeout=max(5.0, 90 - (time.perf_counter() - started))) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            ok = False
        if ok:
            published += per
        else:
            print("a publisher did not finish: its readings are left out of the accounting", flush=True)
    for path in files:
        path.unlink()
    tail = [
        (ids[f"D{k}"], t0 + timedelta(milliseconds=m)) for k in range(SINGLE_PUBLISHERS) for m in range(per - 20, per)
    ]
    stored, elapsed = wait_stored(before + published, started, tail, 1)
    return published, stored - before, elapsed


def wait_ready(pub: Publisher) -> None:
    """A shared subscription without members drops messages: probe until the workers store one."""
    before = stored_rows()
    for n in range(100):
        ts = (datetime.now(UTC) - timedelta(days=1, seconds=n)).isoformat()
        pub.publish(broker.topic(SLUG, "D0", "telemetry"), orjson.dumps({"ts": ts, "metrics": {"h2s_ppm": 1}}), 1)
        pub.drain()
        time.sleep(0.3)
        if stored_rows() > before:
            return
    raise SystemExit("ingest workers did not start")


def main() -> None:
    print(f"ingest bench: database {DB}, {DEVICES} devices, {WORKERS} ingest workers", flush=True)
    setup_database()
    copy_rate = copy_baseline()
    print(f"raw binary COPY into telemetry: {copy_rate:,.0f} rows/s ({COPY_ROWS:,} rows)", flush=True)
    asyncio.run(broker.ensure_service_client())
    group = f"bench-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, **ENV}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linli.cli",
                "ingest",
                "--group",
                group,
                "--client-id",
                f"{group}-{i}",
                "--session-expiry",
                "0",
            ],
            env=env,
            start_new_session=True,
            stderr=open(f"/tmp/linli-bench-ingest-worker-{i}.log", "wb"),  # noqa: SIM115
        )
        for i in range(WORKERS)
    ]
    pub = Publisher()
    try:
        pub.start()
        wait_ready(pub)
        t0 = datetime.now(UTC) - timedelta(hours=2)
        ids = device_ids()
        g_pub, g_stored, g_time = run_gateway(pub, t0, ids)
        g_rate = g_stored / g_time
        print(
            f"gateway batches ({BATCH_DEVICES} devices x {len(METRICS)} metrics per message): published {g_pub:,}, "
            f"stored {g_stored:,} in {g_time:.1f}s = {g_rate:,.0f} readings/s ({g_rate / copy_rate:.2f} of raw COPY)",
            flush=True,
        )
        s_pub, s_stored, s_time = run_single(t0 + timedelta(minutes=30), ids)
        s_rate = s_stored / s_time
        print(
            f"single-reading messages: published {s_pub:,}, stored {s_stored:,} in {s_time:.1f}s = "
            f"{s_rate:,.0f} msgs/s",
            flush=True,
        )
        time.sleep(0.5)
        lost = (g_pub - g_stored) + (s_pub - s_stored)
        print(f"published {g_pub + s_pub:,} readings (broker refused {pub.failed}); stored {g_stored + s_stored:,}")
        print(
            f"RESULT ingest readings_per_s={g_rate:.0f} single_msgs_per_s={s_rate:.0f} "
            f"copy_ratio={g_rate / copy_rate:.2f} lost={lost}",
            flush=True,
        )
    finally:
        pub.stop()
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
