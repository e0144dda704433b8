"""The resident app: its home screen's API calls at full scale against a trivial authenticated call, and
the JavaScript it loads first.

    python bench/app/run.py [--scale full] [--rounds 5] [--seconds 4] [--warm-up 3] [--keep] [--reuse]

Builds a scratch database (`linli_bench_app`: migrations, `seed demo --scale full` — 1.2 M residents,
30 days of events, the resident app's notices), starts `linli serve` (one uvicorn worker) and, signed in
as the demo resident 13800000001 (悦峰尚府, 木棉岭社区), makes the two calls the home screen makes
(`GET /api/v1/app/mumianling/config`, then `.../home`), each followed by `GET /api/v1/me`, one request at a
time. A
warm-up is discarded, then `--rounds` rounds of `--seconds`; the ratio of the p95s is taken per round so
the machine's drift cancels out. `--keep` leaves the database and `--reuse` measures a kept one again.

Ends with `RESULT app home_p95_ms=<n> home_p95_ms_ci95=<lo>-<hi> trivial_p95_ms=<n> home_p95_ratio=<n>
home_p95_ratio_range=<lo>-<hi> home_p50_ms=<n> config_p95_ms=<n> home_call_p95_ms=<n> initial_js_gzip_kb=<n>
first_screen_js_gzip_kb=<n>` (budgets: home p95 under 100 ms, initial JavaScript at most 200 kB gzip).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.bundle import chunks, gzip_bytes  # noqa: E402
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

BENCH_DB = use_database("linli_bench_app")

RESIDENT = "13800000001"
SLUG = "mumianling"
# What the home screen asks for, in the order it asks (portal/src/app: stores/tenant.ts, stores/home.ts).
HOME_CALLS = {"config": f"/api/v1/app/{SLUG}/config", "home_call": f"/api/v1/app/{SLUG}/home"}


async def seed(scale: str) -> None:
    from linli.demo import seed_demo
    from linli.platform.db import dispose_engines

    started = time.perf_counter()
    await seed_demo(scale=scale, progress=lambda step: print(f"seed: {step}", flush=True))
    await dispose_engines()
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute("vacuum analyze")
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)


async def measure(base_url: str, warm_up: float, rounds: int, seconds: float) -> list[PairedRound]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await signed_in(client, RESIDENT)
        home = (await client.get(HOME_CALLS["home_call"])).json()
        print(
            f"{home['me']['display_name']}: {len(home['pinned_notices'])} pinned notices, "
            f"{len(home['open_items'])} open items, {sum(len(s['services']) for s in home['app']['sections'])} services"
        )
        return await measure_paired(client, HOME_CALLS, warm_up=warm_up, rounds=rounds, seconds=seconds)


def javascript_result() -> str:
    """The app's initial JavaScript (entry and its static imports) and its first screen (plus the lazily
    loaded home view), gzip, from the built assets (bench/bundle.py)."""
    initial = chunks(["app.html"])
    first = chunks(["app.html", "src/app/views/HomeView.vue"])
    return f"initial_js_gzip_kb={gzip_bytes(initial) / 1024:.1f} first_screen_js_gzip_kb={gzip_bytes(first) / 1024:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scale", default="full", choices=("small", "full"), help="the demo seed's scale")
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds driven first and discarded")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a round")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the kept database again without seeding")
    args = parser.parse_args()
    javascript = javascript_result()  # fails early when the front end is not built
    if not args.reuse:
        recreate_database(PG, BENCH_DB)
    try:
        if not args.reuse:
            asyncio.run(seed(args.scale))
        port = free_port()
        server = serve(port)
        try:
            rounds = asyncio.run(measure(f"http://127.0.0.1:{port}", args.warm_up, args.rounds, args.seconds))
        finally:
            stop(server)
    finally:
        if not args.keep:
            drop_database(PG, BENCH_DB)
    print(f"RESULT app {paired_result(rounds, 'home', 'home screen calls')} {javascript}")


if __name__ == "__main__":
    main()
