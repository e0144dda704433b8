"""Dispatch latency benchmark: from an alarm-raising reading to its event dispatched and committed.

    python -m bench.dispatch.run [--warm-up 25] [--runs 5] [--per-run 100] [--rate 5] [--readings-per-s 10000] [--keep]

Builds a scratch database (`linli_bench_dispatch`: migrations + small demo seed) and registers one
smoke detector per alarm in 木棉岭社区. Each sample is a real reading (`smoke_alarm: 1`) written through
the IoT ingest writer (the code behind MQTT and HTTP ingest): it is validated and stored, the state
rule opens an alarm, the alarm raises `sf_smoke_alarm`, routing dispatches it, and the transaction
commits. Latency = reading handed to the writer → event dispatched and committed. Meanwhile a second
process COPYs readings into PostgreSQL at the given rate (the ingest load); what it achieved is measured
too (it falls behind when the machine is saturated). The MQTT transport itself is measured by bench/ingest.

Samples are sent at a steady rate: the first `--warm-up` are discarded (cold caches and connections),
the rest form `--runs` consecutive sub-runs. p50 and p99 are taken over all measured samples; p50 comes
with the range of the sub-runs' p50s (drift of a shared machine), p99 with its 95 % bootstrap interval
(a sub-run is too short for its own p99). Ends with `RESULT dispatch p50_ms=<n> p50_ms_range=<lo>-<hi>
p99_ms=<n> p99_ms_ci95=<lo>-<hi> load_readings_per_s=<n> load_readings_per_s_range=<lo>-<hi>`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
from sqlalchemy import text

from bench.harness import PG, Spread, drop_database, percentile, recreate_database, use_database

BENCH_DB = use_database("linli_bench_dispatch")

from linli.iot.ingest import IngestWriter, Message  # noqa: E402
from linli.platform.security import sha256_hex  # noqa: E402


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


@dataclass(frozen=True)
class Report:
    p50: Spread
    p99: Spread
    load: Spread


async def run(warm_up: int, runs: int, per_run: int, rate: float, readings_per_s: int) -> Report:
    from linli.demo import seed_demo
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session

    await seed_demo(scale="small")
    alarms = warm_up + runs * per_run
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
    latencies = [0.0] * alarms

    async def one(n: int) -> None:
        payload = f'{{"ts": "{datetime.now(UTC).isoformat()}", "metrics": {{"smoke_alarm": 1}}}}'.encode()
        start = time.perf_counter()
        result = await writer.write([Message(source="http", payload=payload, device=devices[n])])
        latencies[n] = (time.perf_counter() - start) * 1000
        assert result.alarms_opened, result.errors

    # (time, readings the load had written) where each sub-run's sending starts, and where the last ends
    marks: list[tuple[float, int]] = []
    started = time.perf_counter()
    tasks = []
    for n in range(alarms):
        if n >= warm_up and (n - warm_up) % per_run == 0:
            marks.append((time.perf_counter(), counter.value))
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
    marks.append((time.perf_counter(), counter.value))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    stop.set()
    loader.join(timeout=10)
    async with scoped_session(SYSTEM_SCOPE) as s:
        dispatched = await s.scalar(
            text("select count(*) from events where source = 'iot_alarm' and status = 'dispatched'")
        )
    await dispose_engines()
    measured = latencies[warm_up:]
    sub_runs = [measured[k * per_run : (k + 1) * per_run] for k in range(runs)]
    loads = [(c1 - c0) / (t1 - t0) for (t0, c0), (t1, c1) in itertools.pairwise(marks)]
    print(f"alarms={alarms} dispatched={dispatched} elapsed_s={elapsed:.1f} warm_up={warm_up} (discarded)")
    for k, (sub, load) in enumerate(zip(sub_runs, loads, strict=True)):
        print(
            f"sub-run {k + 1}/{runs}: {len(sub)} samples p50 {statistics.median(sub):.1f} ms, "
            f"p90 {percentile(sub, 0.9):.1f} ms, max {max(sub):.1f} ms; load {load:,.0f} readings/s"
        )
    sub_p50 = [statistics.median(sub) for sub in sub_runs]
    return Report(
        p50=Spread(statistics.median(measured), min(sub_p50), max(sub_p50)),
        p99=Spread.bootstrap(measured, lambda sample: percentile(sample, 0.99)),
        load=Spread.of(loads),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--warm-up", type=int, default=25, help="samples sent first and discarded")
    parser.add_argument("--runs", type=int, default=5, help="measured sub-runs")
    parser.add_argument("--per-run", type=int, default=100, help="samples per sub-run")
    parser.add_argument("--rate", type=float, default=5.0, help="alarms per second")
    parser.add_argument("--readings-per-s", type=int, default=10_000)
    parser.add_argument("--skip-setup", action="store_true", help="reuse the scratch database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()
    if not args.skip_setup:
        recreate_database(PG, BENCH_DB)
    report = asyncio.run(run(args.warm_up, args.runs, args.per_run, args.rate, args.readings_per_s))
    if not args.keep:
        drop_database(PG, BENCH_DB)
    print(f"p50 {report.p50.text('.1f', 'ms')}: all measured samples; range of the sub-runs' p50s")
    print(f"p99 {report.p99.text('.1f', 'ms')}: all measured samples; 95 % bootstrap interval")
    print(
        f"COPY load {report.load.text(',.0f', 'readings/s')} (target {args.readings_per_s:,}): sub-runs' median, range"
    )
    print(
        f"RESULT dispatch {report.p50.fields('p50_ms', '.1f')} {report.p99.fields('p99_ms', '.1f', 'ci95')} "
        f"{report.load.fields('load_readings_per_s', '.0f')}"
    )


if __name__ == "__main__":
    main()
