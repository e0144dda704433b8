"""Ingest benchmark: end to end MQTT publish -> committed rows, with the stream rules on, for gateway
batches and single-reading messages, against raw binary COPY into the telemetry hypertable (the
database's own rate) measured right before each round; zero-loss accounting (readings PUBACKed by the
broker = rows stored).

A warm-up round (cold caches, first chunks) is run and discarded, then ROUNDS measured rounds. Each
round is `COPY baseline, gateway batches, single messages`, each in a day (a chunk) of its own; the
gateway figure is also taken as a ratio to that round's COPY, so a machine that slows down for a
while moves both and the ratio less. Every median is printed with the min–max of its rounds.

Runs against a database of its own (dropped and re-created), so it never touches demo data.
Ends with: RESULT ingest readings_per_s=<n> readings_per_s_range=<lo>-<hi> single_msgs_per_s=<n>
single_msgs_per_s_range=<lo>-<hi> copy_rows_per_s=<n> copy_rows_per_s_range=<lo>-<hi> copy_ratio=<r>
copy_ratio_range=<lo>-<hi> lost=<n>
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
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

from bench.harness import Spread, recreate_database  # noqa: E402
from linli.iot import broker  # noqa: E402
from linli.iot.ingest import copy_payload, copy_statement  # noqa: E402
from linli.iot.mqttwire import connect_packet, publish_packet  # noqa: E402
from linli.platform.broker import broker_address  # noqa: E402

DEVICES = int(os.environ.get("BENCH_DEVICES", "2000"))
GATEWAY_READINGS = int(os.environ.get("BENCH_GATEWAY_READINGS", "900000"))
BATCH_DEVICES = 100  # readings per gateway message (devices), 3 metrics each
SINGLE_MSGS = int(os.environ.get("BENCH_SINGLE_MSGS", "100000"))
COPY_ROWS = int(os.environ.get("BENCH_COPY_ROWS", "600000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Measured rounds after the warm-up; five give a median that one slow round does not move.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SINGLE_PUBLISHERS = 10
SLUG = "bench"
METRICS = ("h2s_ppm", "ch4_lel_pct", "level_pct")  # septic_tank_monitor: three threshold rules
COPY_DEVICE = 10_000_000  # device ids of the COPY baseline's rows: no device has them
DAY = timedelta(days=1)


def setup_database() -> None:
    recreate_database(PG, DB)
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
            "copy devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, mqtt_username, "
            "gateway) from stdin"
        ) as copy:
            for i in range(DEVICES):
                copy.write_row(
                    (tenant_id, node_id, "bench", "septic_tank_monitor", f"D{i}", "{}", f"h{i}", f"bench.D{i}", False)
                )
            # Registered as a gateway: only gateways may publish readings of other devices.
            copy.write_row((tenant_id, node_id, "bench", "energy_meter", "GW-1", "{}", "hgw", "bench.GW-1", True))


def copy_baseline(day: datetime) -> float:
    """Raw binary COPY of COPY_ROWS rows straight into the hypertable, as the worker role, from a buffer
    encoded before the clock starts (by the ingest's own encoder): the database's rate alone. The rows
    go into a day (chunk) of their own, like each round's readings, and the chunk is dropped afterwards
    (a delete would leave dead rows for the autovacuum to clean up during the next round)."""
    rows = [(day + timedelta(seconds=i // 1000), 1, COPY_DEVICE + i % 1000, 1, float(i % 97)) for i in range(COPY_ROWS)]
    payload, _ = copy_payload(rows)
    with psycopg.connect(f"postgresql://linli_worker:linli_worker@{PG}/{DB}") as conn:
        started = time.perf_counter()
        with conn.cursor().copy(copy_statement("telemetry")) as copy:
            copy.write(payload)
        conn.commit()
        rate = COPY_ROWS / (time.perf_counter() - started)
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}", autocommit=True) as conn:
        conn.execute("select drop_chunks('telemetry', older_than => %s, newer_than => %s)", (day + DAY, day - DAY / 2))
    return rate


def stored_rows(conn: psycopg.Connection[tuple[int]], since: datetime) -> int:
    """Readings stored in the half day from `since`: each path of each round writes into a half day of
    its own, so this reads one chunk, not the hypertable."""
    row = conn.execute("select count(*) from telemetry where ts >= %s and ts < %s", (since, since + DAY / 2))
    return int(row.fetchone()[0])  # type: ignore[index]


def device_ids() -> dict[str, int]:
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}") as conn:
        return {serial: int(i) for serial, i in conn.execute("select serial, id from devices")}


def wait_stored(
    target: int, since: datetime, started: float, tail: list[tuple[int, datetime]], per_reading: int
) -> tuple[int, float]:
    """Wait until the last messages' readings are stored, by index probes on (device, ts) that cost the
    database next to nothing (counting the hypertable every 0.1 s took most of a core from the run it
    measured), then count once. The time ends where that count's snapshot began: every row it saw was
    committed by then."""
    limit_s = 90
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
                n = stored_rows(conn, since)
                if n >= target or now - started > limit_s:
                    return n, now - started
            time.sleep(0.5 if done else 0.05)


@dataclass(frozen=True)
class PathRun:
    """One path (gateway batches or single messages) in one round."""

    published: int  # readings the broker acknowledged
    stored: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.stored / self.seconds


def run_gateway(t0: datetime, ids: dict[str, int]) -> PathRun:
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
    started = time.perf_counter()
    acked = asyncio.run(pipelined_publish(f"bench-gateway-{uuid.uuid4().hex[:6]}", topic, payloads))
    published = acked * BATCH_DEVICES * len(METRICS)
    stored, elapsed = wait_stored(published, t0, started, tail, len(METRICS))
    return PathRun(published, stored, elapsed)


async def pipelined_publish(client_id: str, topic: str, payloads: list[bytes], window: int = 500) -> int:
    """One MQTT 5 connection publishing pre-encoded QoS 1 messages with up to `window` awaiting their
    PUBACK; returns how many the broker acknowledged with success (only those are counted as
    published). A load generator that costs the machine little: mosquitto_pub and paho took a quarter
    of these 2 cores from the pipeline measured."""
    address = broker_address()
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(
        connect_packet(
            client_id=client_id,
            username=broker.SERVICE_USER,
            password=broker.service_password(),
            keepalive_s=120,
            session_expiry_s=0,
            clean=True,
        )
    )
    connack = await reader.readexactly(2)
    body = await reader.readexactly(connack[1])
    if connack[0] != 0x20 or body[1] >= 0x80:
        raise SystemExit(f"broker refused the bench publisher: {body!r}")
    frames = [publish_packet(topic, p, n % 65535 + 1) for n, p in enumerate(payloads)]
    acked = 0
    progress = asyncio.Event()

    async def read_acks() -> None:
        nonlocal acked
        buf = bytearray()
        while acked < len(frames):
            chunk = await reader.read(65536)
            if not chunk:
                return
            buf += chunk
            pos = 0
            while len(buf) - pos >= 2 and len(buf) - pos >= 2 + buf[pos + 1]:
                length = buf[pos + 1]  # PUBACKs are short: a one-byte remaining length
                if buf[pos] == 0x40 and (length == 2 or buf[pos + 4] < 0x80):
                    acked += 1
                pos += 2 + length
            del buf[:pos]
            progress.set()

    acks = asyncio.create_task(read_acks())
    sent = 0
    while sent < len(frames):
        if sent - acked >= window:
            progress.clear()
            await progress.wait()
            continue
        part = frames[sent : sent + min(100, window - (sent - acked))]
        writer.write(b"".join(part))
        sent += len(part)
        await writer.drain()
    try:
        await asyncio.wait_for(acks, timeout=60)
    except TimeoutError:
        print(f"{client_id}: {len(frames) - acked} messages never acknowledged", flush=True)
    writer.close()
    return acked


def run_single(t0: datetime, ids: dict[str, int]) -> PathRun:
    """SINGLE_PUBLISHERS connections, one device each, single-reading messages (built before the clock)."""
    per = SINGLE_MSGS // SINGLE_PUBLISHERS
    batches = [
        (
            f"D{k}",
            [
                orjson.dumps({"ts": (t0 + timedelta(milliseconds=m)).isoformat(), "metrics": {"h2s_ppm": 1.5}})
                for m in range(per)
            ],
        )
        for k in range(SINGLE_PUBLISHERS)
    ]

    async def publish_all() -> int:
        counts = await asyncio.gather(
            *(
                pipelined_publish(f"bench-{serial}-{uuid.uuid4().hex[:6]}", broker.topic(SLUG, serial, "telemetry"), p)
                for serial, p in batches
            )
        )
        return sum(counts)

    started = time.perf_counter()
    published = asyncio.run(publish_all())
    tail = [
        (ids[f"D{k}"], t0 + timedelta(milliseconds=m)) for k in range(SINGLE_PUBLISHERS) for m in range(per - 20, per)
    ]
    stored, elapsed = wait_stored(published, t0, started, tail, 1)
    return PathRun(published, stored, elapsed)


def wait_ready() -> None:
    """A shared subscription without members drops messages: probe until the workers store one (in a day
    that no round uses)."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - DAY
    with psycopg.connect(f"postgresql://postgres@{PG}/{DB}", autocommit=True) as conn:
        for n in range(100):
            probe = [orjson.dumps({"ts": (since + timedelta(seconds=n)).isoformat(), "metrics": {"h2s_ppm": 1}})]
            asyncio.run(pipelined_publish(f"bench-probe-{n}", broker.topic(SLUG, "D0", "telemetry"), probe))
            time.sleep(0.3)
            if stored_rows(conn, since):
                return
    raise SystemExit("ingest workers did not start")


@dataclass(frozen=True)
class Round:
    copy_rate: float  # rows/s of raw COPY measured right before the round
    gateway: PathRun
    single: PathRun

    @property
    def copy_ratio(self) -> float:
        return self.gateway.rate / self.copy_rate


def run_round(day: datetime, ids: dict[str, int]) -> Round:
    """COPY baseline in the day before `day`, gateway batches in its first half, single messages in its second."""
    return Round(copy_baseline(day - DAY), run_gateway(day, ids), run_single(day + DAY / 2, ids))


def describe(label: str, r: Round) -> str:
    return (
        f"{label}: COPY {r.copy_rate:,.0f} rows/s | gateway {r.gateway.stored:,} readings in {r.gateway.seconds:.1f}s "
        f"= {r.gateway.rate:,.0f}/s = {r.copy_ratio:.2f} x COPY | single {r.single.stored:,} msgs in "
        f"{r.single.seconds:.1f}s = {r.single.rate:,.0f}/s"
    )


def start_workers() -> list[subprocess.Popen[bytes]]:
    group = f"bench-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, **ENV}
    return [
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
            stderr=open(f"/tmp/linli-bench-ingest-worker-{i}.log", "wb"),
        )
        for i in range(WORKERS)
    ]


def main() -> None:
    begun = time.perf_counter()
    print(
        f"ingest bench: database {DB}, {DEVICES} devices, {WORKERS} ingest workers; a warm-up round and {ROUNDS} "
        f"measured rounds of COPY {COPY_ROWS:,} rows, {GATEWAY_READINGS:,} readings in gateway batches "
        f"({BATCH_DEVICES} devices x {len(METRICS)} metrics per message), {SINGLE_MSGS:,} single-reading messages "
        f"({SINGLE_PUBLISHERS} connections)",
        flush=True,
    )
    setup_database()
    asyncio.run(broker.ensure_service_client())
    workers = start_workers()
    try:
        wait_ready()
        ids = device_ids()
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rounds: list[Round] = []
        for n in range(ROUNDS + 1):
            rounds.append(run_round(midnight - (2 + 2 * n) * DAY, ids))
            print(describe(f"round {n}/{ROUNDS}" if n else "warm-up (discarded)", rounds[-1]), flush=True)
        published = sum(r.gateway.published + r.single.published for r in rounds)
        stored = sum(r.gateway.stored + r.single.stored for r in rounds)
        measured = rounds[1:]
        copy = Spread.of([r.copy_rate for r in measured])
        gateway = Spread.of([r.gateway.rate for r in measured])
        ratio = Spread.of([r.copy_ratio for r in measured])
        single = Spread.of([r.single.rate for r in measured])
        print(f"{published:,} readings acknowledged by the broker in all rounds, {stored:,} stored")
        print(
            f"after {time.perf_counter() - begun:.0f}s, medians of {ROUNDS} rounds "
            "(min–max of the rounds, ± half of that as a share of the median):"
        )
        print(f"  raw binary COPY          {copy.text(',.0f', 'rows/s')}")
        print(f"  gateway batches          {gateway.text(',.0f', 'readings/s')}")
        print(f"  gateway / COPY per round {ratio.text('.2f', 'x COPY')}")
        print(f"  single-reading messages  {single.text(',.0f', 'msgs/s')}")
        print(
            f"RESULT ingest {gateway.fields('readings_per_s', '.0f')} {single.fields('single_msgs_per_s', '.0f')} "
            f"{copy.fields('copy_rows_per_s', '.0f')} {ratio.fields('copy_ratio', '.2f')} lost={published - stored}",
            flush=True,
        )
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
