"""Storage per reading: bytes per row of the `telemetry` hypertable and of an hourly rollup row.

    python bench/storage/run.py [--devices 10000] [--minutes 100] [--keep]

Builds a scratch database (`linli_bench_storage`: migrations only), COPYs one reading a minute of
3 metrics for `--devices` devices over `--minutes` minutes into one day's chunk (the shape of a
district's telemetry: many devices, few metrics each), fills `telemetry_1h` from it as the rollup
does, runs VACUUM ANALYZE, and reports table + index bytes divided by rows. Ends with
`RESULT storage telemetry_bytes_per_row=<n> telemetry_heap_bytes_per_row=<n>
telemetry_index_bytes_per_row=<n> rollup_1h_bytes_per_row=<n> rows=<n>` (figures only).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DB = os.environ.get("LINLI_BENCH_DATABASE", "linli_bench_storage")
PG = os.environ.get("LINLI_BENCH_PG", "127.0.0.1:55432")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg  # noqa: E402

from bench.harness import drop_database, recreate_database  # noqa: E402

METRICS = (1, 2, 3)
SIZES = """
    select
      (select count(*) from telemetry),
      (select sum(total_bytes) from chunks_detailed_size('telemetry')),
      (select sum(table_bytes + toast_bytes) from chunks_detailed_size('telemetry')),
      (select sum(index_bytes) from chunks_detailed_size('telemetry')),
      (select count(*) from telemetry_1h),
      pg_total_relation_size('telemetry_1h')
"""


def measure(devices: int, minutes: int) -> tuple[int, float, float, float, float]:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    rng = random.Random(0)
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True) as conn:
        with (
            conn.cursor() as cur,
            cur.copy("copy telemetry (ts, tenant_id, device_id, metric_id, value) from stdin") as copy,
        ):
            copy.set_types(["timestamptz", "int4", "int8", "int2", "float8"])
            for minute in range(minutes):
                ts = start + timedelta(minutes=minute)
                for device in range(1, devices + 1):
                    for metric in METRICS:
                        copy.write_row((ts, 1 + device % 72, device, metric, round(rng.uniform(0, 100), 1)))
        conn.execute(
            """insert into telemetry_1h (device_id, metric_id, bucket, tenant_id, n, min, max, avg)
               select device_id, metric_id, time_bucket('1 hour', ts), min(tenant_id), count(*), min(value),
                      max(value), avg(value)
               from telemetry group by 1, 2, 3"""
        )
        conn.execute("vacuum analyze telemetry")
        conn.execute("vacuum analyze telemetry_1h")
        rows, total, heap, index, rollup_rows, rollup_bytes = conn.execute(SIZES).fetchone()
    return rows, total / rows, heap / rows, index / rows, rollup_bytes / rollup_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()
    recreate_database(PG, BENCH_DB)
    try:
        rows, total, heap, index, rollup = measure(args.devices, args.minutes)
    finally:
        if not args.keep:
            drop_database(PG, BENCH_DB)
    print(
        f"{rows:,} readings: {total:.1f} bytes each ({heap:.1f} heap, {index:.1f} unique index); "
        f"1 h rollup row {rollup:.1f}"
    )
    print(
        f"RESULT storage telemetry_bytes_per_row={total:.1f} telemetry_heap_bytes_per_row={heap:.1f} "
        f"telemetry_index_bytes_per_row={index:.1f} rollup_1h_bytes_per_row={rollup:.1f} rows={rows}"
    )


if __name__ == "__main__":
    main()
