"""API throughput benchmark: one uvicorn worker serving a typical authenticated read.

    python bench/api/run.py [--concurrency 4] [--warm-up 3] [--rounds 5] [--seconds 4] [--keep]

Builds a scratch database (`linli_bench_api`: migrations + small demo seed), starts `linli serve` on
it (one uvicorn worker, one process), signs in as 木棉岭社区's community staff, files 100 events
through the API and then, from this one process, keeps `--concurrency` connections busy with
`GET /api/v1/events?limit=20` (a page of the events queue: token check, scope, row-level security,
one query, serialisation). A warm-up is discarded, then `--rounds` rounds of `--seconds` each. The
load generator shares the machine with the server, so the server's own CPU time per request (from
/proc) is reported too: that, not the rate, is what says how many requests a dedicated core serves.
Ends with `RESULT api requests_per_s=<n> requests_per_s_range=<lo>-<hi> p50_ms=<n>
p50_ms_range=<lo>-<hi> p99_ms=<n> p99_ms_ci95=<lo>-<hi> server_cpu_ms_per_request=<n>
server_cpu_ms_per_request_range=<lo>-<hi>` (figures only, no pass/fail).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.harness import (  # noqa: E402
    PG,
    Spread,
    drop_database,
    free_port,
    percentile,
    recreate_database,
    serve,
    stop,
    use_database,
)

BENCH_DB = use_database("linli_bench_api")

PATH = "/api/v1/events?limit=20"
LOGIN = "staff@mumianling.demo"
ESTATE = "悦峰尚府"  # an estate of 木棉岭社区, where the bench files the events it then lists
ITEMS = ("pb_volunteer_request", "po_dispute_neighbour", "po_rental_registration")  # staff may file these
EVENTS = 100
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def seed() -> int:
    """The demo district; returns the id of the estate the events are filed at."""
    from linli.demo import seed_demo
    from linli.platform.db import dispose_engines

    await seed_demo(scale="small")
    await dispose_engines()
    async with await psycopg.AsyncConnection.connect(f"postgresql://postgres@{PG}/{BENCH_DB}") as conn:
        row = await (await conn.execute("select id from nodes where name = %s", (ESTATE,))).fetchone()
    if row is None:
        raise SystemExit(f"the demo seed has no {ESTATE}")
    return int(row[0])


@dataclass(frozen=True)
class Round:
    requests_per_s: float
    latencies_ms: list[float]
    cpu_ms_per_request: float


async def drive(client: httpx.AsyncClient, seconds: float, concurrency: int, server_pid: int) -> Round:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(PATH)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"GET {PATH} answered {response.status_code}: {response.text[:200]}")

    cpu_before, started = cpu_seconds(server_pid), time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(server_pid) - cpu_before
    return Round(len(latencies) / elapsed, latencies, 1000 * cpu / len(latencies))


async def measure(
    base_url: str, server_pid: int, estate_id: int, concurrency: int, warm_up: float, rounds: int, seconds: float
) -> list[Round]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        from linli.demo import DEMO_PASSWORD

        token = await client.post("/api/v1/auth/token", data={"username": LOGIN, "password": DEMO_PASSWORD})
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        for n in range(EVENTS):
            # a building of its own each: the same item at the same place would merge into one event
            location = {"building": f"{n + 1}栋"}
            body = {
                "item": ITEMS[n % len(ITEMS)],
                "description": f"bench {n}",
                "node_id": estate_id,
                "location": location,
            }
            created = await client.post("/api/v1/events", json=body)
            if not created.is_success:
                raise SystemExit(f"POST /api/v1/events answered {created.status_code}: {created.text[:200]}")
        first = await client.get(PATH)
        first.raise_for_status()
        print(f"GET {PATH} as {LOGIN}: {len(first.json()['items'])} events per page, {len(first.content)} bytes")
        await drive(client, warm_up, concurrency, server_pid)
        return [await drive(client, seconds, concurrency, server_pid) for _ in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=4, help="connections kept busy")
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds driven first and discarded")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a round")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()
    recreate_database(PG, BENCH_DB)
    try:
        estate_id = asyncio.run(seed())
        port = free_port()
        server = serve(port)
        try:
            result = asyncio.run(
                measure(
                    f"http://127.0.0.1:{port}",
                    server.pid,
                    estate_id,
                    args.concurrency,
                    args.warm_up,
                    args.rounds,
                    args.seconds,
                )
            )
        finally:
            stop(server)
    finally:
        if not args.keep:
            drop_database(PG, BENCH_DB)
    rate = Spread.of([r.requests_per_s for r in result])
    samples = [ms for r in result for ms in r.latencies_ms]
    p50 = Spread.of([percentile(r.latencies_ms, 0.5) for r in result])
    p50 = Spread(percentile(samples, 0.5), p50.low, p50.high)
    p99 = Spread.bootstrap(samples, lambda s: percentile(s, 0.99))
    cpu = Spread.of([r.cpu_ms_per_request for r in result])
    print(f"throughput {rate.text(',.0f', 'requests/s')} with {args.concurrency} connections: rounds' median, range")
    print(f"latency p50 {p50.text('.1f', 'ms')} (range of the rounds' p50s), p99 {p99.text('.1f', 'ms')} (95 % CI)")
    print(f"server CPU {cpu.text('.2f', 'ms/request')}: the uvicorn process alone, rounds' median, range")
    print(
        f"RESULT api {rate.fields('requests_per_s', '.0f')} {p50.fields('p50_ms', '.1f')} "
        f"{p99.fields('p99_ms', '.1f', 'ci95')} {cpu.fields('server_cpu_ms_per_request', '.2f')}"
    )


if __name__ == "__main__":
    main()
