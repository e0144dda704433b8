"""The console at full scale: the command screen's API against a trivial authenticated call.

    python bench/console/run.py [--days 365] [--rounds 5] [--seconds 4] [--warm-up 3] [--keep] [--reuse]

Builds a scratch database (`linli_bench_console`: migrations, `seed demo --scale full` — 1.2 M
residents, 木棉岭's 400 000 devices, 30 days of events — and then `--days` of event history at the
same rate, some 1 000 events a day in the two demo districts' tenants; the daily rollups and device
counts are rebuilt as the worker would), starts `linli serve` (one uvicorn worker) and, signed in as
罗湖区's district administrator, alternates `GET /api/v1/dashboards/nodes/{id}` (the default 30-day
window, at the district, the street, 木棉岭社区, its first grid and 悦峰尚府 in turn) with `GET
/api/v1/me` (token check and two small reads), one request at a time. A warm-up is discarded, then
`--rounds` rounds of `--seconds`. The ratio of the two p95s is taken per round (both measured side by
side), so the machine's drift cancels out. Seeding takes about ten minutes; `--keep` leaves the database
and `--reuse` measures an existing one again.

Ends with `RESULT console api_p95_ms=<n> api_p95_ms_ci95=<lo>-<hi> trivial_p95_ms=<n>
api_p95_ratio=<n> api_p95_ratio_range=<lo>-<hi> api_p50_ms=<n> events=<n> devices=<n>` and, per
level, `<level>_p95_ms=<n>` (figures only; the budget is a p95 under 150 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.harness import (  # noqa: E402
    PG,
    PairedRound,
    drop_database,
    free_port,
    measure_paired,
    paired_result,
    recreate_database,
    serve,
    signed_in,
    stop,
    use_database,
)

BENCH_DB = use_database("linli_bench_console")

LOGIN = "admin@luohu.demo"
# The command screen at each level, by node name (the district by its code).
LEVELS = {
    "district": "code:440303",
    "street": "name:东晓街道",
    "community": "name:木棉岭社区",
    "grid": "name:木棉岭第1网格",
    "estate": "name:悦峰尚府",
}


async def seed(days: int) -> None:
    """The full-scale demo, then `days` of event history at its rate, rolled up as the worker would."""
    from linli.demo import seed_demo
    from linli.events.demo import EVENTS_PER_COMMUNITY_DAY, seed_history
    from linli.events.rollups import refresh_rollups
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session

    started = time.perf_counter()
    await seed_demo(scale="full", progress=lambda step: print(f"seed: {step}", flush=True))
    async with scoped_session(SYSTEM_SCOPE) as session:
        added = await seed_history(session, days=days, per_community_day=EVENTS_PER_COMMUNITY_DAY["full"])
    print(f"seed: {added} more events over {days} days", flush=True)
    async with scoped_session(SYSTEM_SCOPE) as session:
        await refresh_rollups(session, rebuild=True)
    await dispose_engines()
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute("vacuum analyze")
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)


def scale() -> dict[str, int]:
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}") as conn:
        row = conn.execute("select (select count(*) from events), (select count(*) from devices)").fetchone()
    assert row is not None
    return {"events": int(row[0]), "devices": int(row[1])}


def node_ids() -> dict[str, int]:
    out = {}
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}") as conn:
        for level, where in LEVELS.items():
            column, _, value = where.partition(":")
            row = conn.execute(
                f"select id from nodes where {column} = %s and level = %s order by id limit 1", (value, level)
            ).fetchone()
            if row is None:
                raise SystemExit(f"the demo seed has no {level} {value}")
            out[level] = int(row[0])
    return out


async def measure(base_url: str, warm_up: float, rounds: int, seconds: float) -> list[PairedRound]:
    nodes = node_ids()
    screens = {level: f"/api/v1/dashboards/nodes/{node}" for level, node in nodes.items()}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await signed_in(client, LOGIN)
        first = (await client.get(screens["district"])).json()
        print(
            f"{first['node']['name']}: {first['events']['total']} events in 30 days, "
            f"{first['iot']['devices']} devices, {len(first['children'])} children"
        )
        return await measure_paired(client, screens, warm_up=warm_up, rounds=rounds, seconds=seconds)


def api_result(rounds: list[PairedRound]) -> str:
    """The command screen's API: its p95 (95 % CI), the trivial call's, their ratio per round, per level."""
    return paired_result(rounds, "api", "command screen")


def javascript_result(_: list[PairedRound]) -> str:
    """The console's initial JavaScript (entry and its static imports) and its first screen (plus the
    lazily loaded shell and command screen), gzip, from the built assets (bench/bundle.py)."""
    from bench.bundle import chunks, gzip_bytes

    initial = chunks(["index.html"])
    first = chunks(
        ["index.html", "src/console/components/ShellLayout.vue", "src/console/features/command/CommandView.vue"]
    )
    return f"initial_js_gzip_kb={gzip_bytes(initial) / 1024:.1f} first_screen_js_gzip_kb={gzip_bytes(first) / 1024:.1f}"


# What the RESULT line reports, each a function of the measured rounds (or, for the JavaScript, of the build).
RESULTS: tuple[Callable[[list[PairedRound]], str], ...] = (api_result, javascript_result)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of event history besides the demo's 30")
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds driven first and discarded")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a round")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the kept database again without seeding")
    args = parser.parse_args()
    if not args.reuse:
        recreate_database(PG, BENCH_DB)
    try:
        if not args.reuse:
            asyncio.run(seed(args.days))
        size = scale()
        port = free_port()
        server = serve(port)
        try:
            rounds = asyncio.run(measure(f"http://127.0.0.1:{port}", args.warm_up, args.rounds, args.seconds))
        finally:
            stop(server)
    finally:
        if not args.keep:
            drop_database(PG, BENCH_DB)
    fields = " ".join(result(rounds) for result in RESULTS)
    print(f"RESULT console {fields} events={size['events']} devices={size['devices']}")


if __name__ == "__main__":
    main()
