"""Dispatch latency benchmark: from an alarm-raising reading to its event dispatched and committed.

    python -m bench.dispatch.run [--alarms 200] [--rate 5] [--readings-per-s 10000] [--keep]

Builds a scratch database (`linli_bench_dispatch`: migrations + small demo seed) and registers one
smoke detector per alarm in 木棉岭社区. Each sample is a real reading (`smoke_alarm: 1`) written through
the IoT ingest writer (the code behind MQTT and HTTP ingest): it is validated and stored, the state
rule opens an alarm, the alarm raises `sf_smoke_alarm`, routing dispatches it, and the transaction
commits. Latency = reading handed to the writer → event dispatched and committed. Meanwhile a second
process COPYs readings into PostgreSQL at the given rate (the ingest load). The MQTT transport itself
is measured by bench/ingest. Ends with `RESULT dispatch p50_ms=<n> p99_ms=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DB = os.environ.get("LINLI_BENCH_DATABASE", "linli_bench_dispatch")
PG = os.environ.get("LINLI_BENCH_PG", "127.0.0.1:55432")
os.environ.update(
    LINLI_DATABASE_URL=f"postgresql+psycopg://linli_api:linli_api@{PG}/{BENCH_DB}",
    LINLI_WORKER_DATABASE_URL=f"postgresql+psycopg://linli_worker:linli_worker@{PG}/{BENCH_DB}",
    LINLI_MIGRATE_DATABASE_URL=f"postgresql+psycopg://postgres@{PG}/{BENCH_DB}",
    LINLI_EVENTS_ENQUEUE_JOBS="0",
    LINLI_LOG_LEVEL="WARNING",
)

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402

from linli.iot.ingest import IngestWriter, Message  # noqa: E402
from linli.platform.security import sha256_hex  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def prepare_database() -> None:
    from alembic import command
    from alembic.config import Config

    with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{BENCH_DB}" with (force)')
        conn.execute(f'create database "{BENCH_DB}"')
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = os.environ["LINLI_MIGRATE_DATABASE_URL"]
    command.upgrade(config, "head")


def ingest_load(readings_per_s: int, stop: Any, counter: Any) -> None:
    """Synthetic ingest in its own process: COPY batches every 100 ms into a temporary table as the
    worker role (the IoT writer's shape of load on the same PostgreSQL)."""
    url = f"postgresql://linli_worker:linli_worker@{PG}/{BENCH_DB}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create temporary table readings (ts timestamptz, device text, metric text, value float8)")
        per_batch = max(1, readings_per_s // 10)
        next_at = time.perf_counter()
        while not stop.is_set():
            now = datetime.now(UTC)
            with conn.cursor() as cur, cur.copy("copy readings from stdin") as copy:
                for i in range(per_batch):
                    copy.write_row((now, f"dev-{i % 5000}", "temperature", 20.0 + (i % 7)))
            with counter.get_lock():
                counter.value += per_batch
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.perf_counter()))


REGISTER = text(
    """
    insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, mqtt_username)
    select t.id, e.id, e.node_path, 'smoke_detector', :serial, cast(:location as jsonb), :token_hash, :username
    from nodes e join tenants t on t.slug = 'mumianling' and e.node_path <@ t.node_path
    where e.level = 'estate' order by e.id offset :k limit 1
    """
)


async def run(alarms: int, rate: float, readings_per_s: int) -> tuple[float, float]:
    from linli.demo import seed_demo
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session

    await seed_demo(scale="small")
    base = int(time.time() * 1000)
    tokens = [f"bench-{base}-{n}" for n in range(alarms)]
    async with scoped_session(SYSTEM_SCOPE) as s:
        for n, token in enumerate(tokens):
            await s.execute(
                REGISTER,
                {
                    "serial": f"BENCH-{base}-{n}",
                    "token_hash": sha256_hex(token),
                    "k": n % 6,
                    "username": f"mumianling.BENCH-{base}-{n}",
                    "location": f'{{"building": "{n % 7 + 1}栋", "unit": "bench-{n}", "floor": "{n % 30 + 1}"}}',
                },
            )
    writer = IngestWriter()
    devices = [await writer.authenticate(token) for token in tokens]
    assert all(devices), "bench devices were not registered"
    stop = multiprocessing.Event()
    counter: Any = multiprocessing.Value("q", 0)
    loader = multiprocessing.Process(target=ingest_load, args=(readings_per_s, stop, counter), daemon=True)
    loader.start()
    await asyncio.sleep(1.0)  # let the load settle
    latencies: list[float] = []

    async def one(n: int) -> None:
        payload = f'{{"ts": "{datetime.now(UTC).isoformat()}", "metrics": {{"smoke_alarm": 1}}}}'.encode()
        start = time.perf_counter()
        result = await writer.write([Message(source="http", payload=payload, device=devices[n])])
        latencies.append((time.perf_counter() - start) * 1000)
        assert result.alarms_opened, result.errors

    started = time.perf_counter()
    tasks = []
    for n in range(alarms):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    stop.set()
    loader.join(timeout=10)
    async with scoped_session(SYSTEM_SCOPE) as s:
        dispatched = await s.scalar(
            text("select count(*) from events where source = 'iot_alarm' and status = 'dispatched'")
        )
    await dispose_engines()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"alarms={alarms} dispatched={dispatched} elapsed_s={elapsed:.1f} "
        f"ingest_readings_per_s={counter.value / elapsed:.0f} max_ms={latencies[-1]:.1f}"
    )
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="alarms per second")
    parser.add_argument("--readings-per-s", type=int, default=10_000)
    parser.add_argument("--skip-setup", action="store_true", help="reuse the scratch database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()
    if not args.skip_setup:
        prepare_database()
    p50, p99 = asyncio.run(run(args.alarms, args.rate, args.readings_per_s))
    if not args.keep:
        with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'drop database if exists "{BENCH_DB}" with (force)')
    print(f"RESULT dispatch p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
