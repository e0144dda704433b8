"""Community life under concurrent load: booking slots and signing up to activities, against a trivial
authenticated call.

    python bench/services/run.py [--residents 200] [--concurrency 20] [--rounds 5] [--keep] [--reuse]

Builds a scratch database (`linli_bench_services`: migrations, `seed demo --scale small`), adds
`--residents` residents of 悦峰尚府 with their tokens and a bookable room of five-minute slots, and starts
`linli serve` (one uvicorn worker). Each round, `--concurrency` clients at a time: every resident books a
slot of their own (the exclusion constraint checks each against the others), every resident signs up to
a fresh activity with places for half of them (the rest queue on its row lock), and the same number of
`GET /api/v1/me` calls run the same way. The booking p99 is divided by the trivial call's p99 of the
same round, so the machine's drift cancels out.

Ends with `RESULT services booking_p99_ms=<n> booking_p99_ms_range=<lo>-<hi> trivial_p99_ms=<n>
booking_p99_ratio=<n> booking_p99_ratio_range=<lo>-<hi> signup_per_s=<n> signup_per_s_range=<lo>-<hi>`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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

BENCH_DB = use_database("linli_bench_services")
APP = "/api/v1/app/mumianling"
ESTATE = "悦峰尚府"
TRIVIAL = "/api/v1/me"
SLOT_MINUTES = 5


async def seed() -> None:
    from linli.demo import seed_demo
    from linli.platform.db import dispose_engines

    await seed_demo(scale="small")
    await dispose_engines()


def place() -> tuple[int, str, int]:
    """悦峰尚府 (id, path) and 木棉岭's tenant id."""
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}") as conn:
        row = conn.execute(
            "select n.id, n.node_path::text, t.id from nodes n join tenants t on t.node_path @> n.node_path"
            " where n.name = %s and t.slug = 'mumianling'",
            (ESTATE,),
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), int(row[2])


def residents(count: int) -> list[str]:
    """`count` residents of the estate (added once; a reused database keeps them); their access tokens."""
    from linli.platform.security import issue_access_token

    estate_id, estate_path, _ = place()
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute(
            "insert into users (phone, display_name, home_node_path) select '1990000' || lpad(i::text, 4, '0'),"
            " 'bench ' || i, %s::ltree from generate_series(1, %s) i on conflict (phone) do nothing",
            (estate_path, count),
        )
        ids = [
            r[0]
            for r in conn.execute(
                "select id from users where phone like '1990000%%' order by phone limit %s", (count,)
            ).fetchall()
        ]
        conn.execute(
            "insert into role_grants (user_id, role, node_id, node_path) select u, 'resident', %s, %s::ltree"
            " from unnest(%s::uuid[]) u where not exists (select 1 from role_grants g where g.user_id = u)",
            (estate_id, estate_path, ids),
        )
    return [issue_access_token(i, session_id=uuid.uuid4())[0] for i in ids]


def new_resource() -> int:
    """A room open all day in five-minute slots (a fresh one per run: its slots are all free)."""
    _, _, tenant = place()
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True) as conn:
        row = conn.execute(
            "insert into resources (tenant_id, node_id, node_path, service_code, name, kind, opens, closes,"
            " slot_minutes) select %s, id, node_path, 'com_space_booking', 'bench room', 'room', '00:00', '23:55', %s"
            " from nodes where name = '木棉岭社区' returning id",
            (tenant, SLOT_MINUTES),
        ).fetchone()
    assert row is not None
    return int(row[0])


def new_activity(capacity: int) -> int:
    _, _, tenant = place()
    with psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True) as conn:
        row = conn.execute(
            "insert into activities (tenant_id, node_id, node_path, service_code, title, starts_at, ends_at,"
            " signup_deadline, capacity) select %s, id, node_path, 'com_activities', 'bench', now() + interval"
            " '2 days', now() + interval '2 days 2 hours', now() + interval '1 day', %s from nodes"
            " where name = '木棉岭社区' returning id",
            (tenant, capacity),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def concurrently(calls: list[Callable[[], Awaitable[float]]], concurrency: int) -> list[float]:
    """Run the calls with at most `concurrency` in flight; each one's latency in ms."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[float]]) -> float:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


def timed(
    client: httpx.AsyncClient, method: str, path: str, token: str, ok: int, **kwargs: object
) -> Callable[[], Awaitable[float]]:
    async def call() -> float:
        started = time.perf_counter()
        response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != ok:
            raise SystemExit(f"{method} {path} answered {response.status_code}: {response.text[:200]}")
        return elapsed

    return call


async def measure(base_url: str, tokens: list[str], rounds: int, concurrency: int) -> list[dict[str, float]]:
    resource = new_resource()
    zone = ZoneInfo("Asia/Shanghai")
    first_day = datetime.now(zone).date() + timedelta(days=1)
    slots_per_day = 24 * 60 // SLOT_MINUTES - 1
    out: list[dict[str, float]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for number in range(rounds + 1):  # the first round warms up and is discarded
            booking_calls = []
            for i, token in enumerate(tokens):
                k = number * len(tokens) + i
                day = first_day + timedelta(days=k // slots_per_day)
                start = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(
                    minutes=SLOT_MINUTES * (k % slots_per_day)
                )
                booking_calls.append(
                    timed(
                        client,
                        "POST",
                        f"{APP}/resources/{resource}/bookings",
                        token,
                        201,
                        json={"starts_at": start.isoformat()},
                    )
                )
            booking = await concurrently(booking_calls, concurrency)
            trivial = await concurrently([timed(client, "GET", TRIVIAL, t, 200) for t in tokens], concurrency)
            activity = new_activity(capacity=max(1, len(tokens) // 2))
            started = time.perf_counter()
            await concurrently(
                [timed(client, "POST", f"{APP}/activities/{activity}/signup", t, 201) for t in tokens], concurrency
            )
            signup_per_s = len(tokens) / (time.perf_counter() - started)
            if number:
                out.append(
                    {
                        "booking_p99": percentile(booking, 0.99),
                        "trivial_p99": percentile(trivial, 0.99),
                        "signup_per_s": signup_per_s,
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the kept database again without seeding")
    args = parser.parse_args()
    if not args.reuse:
        recreate_database(PG, BENCH_DB)
    try:
        if not args.reuse:
            asyncio.run(seed())
        tokens = residents(args.residents)
        port = free_port()
        server = serve(port)
        try:
            rounds = asyncio.run(measure(f"http://127.0.0.1:{port}", tokens, args.rounds, args.concurrency))
        finally:
            stop(server)
    finally:
        if not args.keep:
            drop_database(PG, BENCH_DB)
    booking = Spread.of([r["booking_p99"] for r in rounds])
    trivial = Spread.of([r["trivial_p99"] for r in rounds])
    ratio = Spread.of([r["booking_p99"] / r["trivial_p99"] for r in rounds])
    signups = Spread.of([r["signup_per_s"] for r in rounds])
    print(
        f"booking p99 {booking.text('.1f', 'ms')}; trivial p99 {trivial.text('.1f', 'ms')}; "
        f"ratio {ratio.text('.2f', '×')}"
    )
    print(f"sign-ups {signups.text('.0f', '/s')} ({args.residents} residents, {args.concurrency} at a time)")
    print(
        f"RESULT services {booking.fields('booking_p99_ms', '.1f')} trivial_p99_ms={trivial.value:.1f} "
        f"{ratio.fields('booking_p99_ratio', '.2f')} {signups.fields('signup_per_s', '.0f')}"
    )


if __name__ == "__main__":
    main()
