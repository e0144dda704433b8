"""What the benchmarks share: a scratch database of their own, and figures reported with their spread.

This machine is shared and its speed drifts within a run, so one number is never reported alone: a
median comes with the min–max of the rounds it summarises, and a ratio is taken per round against a
baseline measured next to that round (never against a baseline measured once, before everything).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("LINLI_BENCH_PG", "127.0.0.1:55432")


def use_database(default: str) -> str:
    """The benchmark's scratch database (LINLI_BENCH_DATABASE, else `default`), on LINLI_BENCH_PG: every
    LINLI_* database URL of this process, and of the servers it starts, points at it. Call it before
    anything reads Linli's settings."""
    database = os.environ.get("LINLI_BENCH_DATABASE", default)
    os.environ.update(
        LINLI_DATABASE_URL=f"postgresql+psycopg://linli_api:linli_api@{PG}/{database}",
        LINLI_WORKER_DATABASE_URL=f"postgresql+psycopg://linli_worker:linli_worker@{PG}/{database}",
        LINLI_MIGRATE_DATABASE_URL=f"postgresql+psycopg://postgres@{PG}/{database}",
        LINLI_EVENTS_ENQUEUE_JOBS="0",
        LINLI_LOG_LEVEL="WARNING",
    )
    return database


def migrate_url(pg: str, database: str) -> str:
    return f"postgresql+psycopg://postgres@{pg}/{database}"


def recreate_database(pg: str, database: str) -> None:
    """Drop and create `database` (never one the benchmarks did not name for themselves), then migrate it."""
    from alembic import command
    from alembic.config import Config

    drop_database(pg, database)
    with psycopg.connect(f"postgresql://postgres@{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = migrate_url(pg, database)
    command.upgrade(config, "head")


def drop_database(pg: str, database: str) -> None:
    if not database.startswith("linli_bench"):
        raise SystemExit(f"refusing to drop {database!r}: bench databases are named linli_bench*")
    with psycopg.connect(f"postgresql://postgres@{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database}" with (force)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> subprocess.Popen[bytes]:
    """`linli serve` (one uvicorn worker) on the benchmark's database (the LINLI_* environment), once it
    answers /healthz."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "linli.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"linli serve exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("linli serve did not answer /healthz within 60 s")


def stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank above q (the definition the dispatch figures have always used)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass(frozen=True)
class Spread:
    """A reported figure and the interval that says how far to trust it."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Median and min–max of per-round figures."""
        return cls(statistics.median(values), min(values), max(values))

    @classmethod
    def bootstrap(
        cls, samples: Sequence[float], statistic: Callable[[Sequence[float]], float], resamples: int = 2000
    ) -> Spread:
        """`statistic` of the samples with its 95 % percentile-bootstrap interval (seeded: the interval
        of the same samples does not move between reports)."""
        rng = random.Random(0)
        estimates = sorted(statistic(rng.choices(samples, k=len(samples))) for _ in range(resamples))
        return cls(statistic(samples), estimates[int(resamples * 0.025)], estimates[int(resamples * 0.975) - 1])

    @property
    def half_width_pct(self) -> float:
        """Half the interval as a share of the value: a change larger than this stands out of the noise."""
        return 50 * (self.high - self.low) / self.value if self.value else 0.0

    def text(self, fmt: str, unit: str) -> str:
        return f"{self.value:{fmt}} {unit} ({self.low:{fmt}}–{self.high:{fmt}}, ±{self.half_width_pct:.0f} %)"

    def fields(self, name: str, fmt: str, interval: str = "range") -> str:
        """`name=value name_range=low-high`, for RESULT lines."""
        return f"{name}={self.value:{fmt}} {name}_{interval}={self.low:{fmt}}-{self.high:{fmt}}"


# ------------------------------------------------------------------ API calls paired with a trivial call

TRIVIAL = "/api/v1/me"  # token check and two small reads: what any authenticated call costs at least


@dataclass
class PairedRound:
    """One round of measured calls (by name), each followed by the trivial call."""

    call_ms: dict[str, list[float]] = field(default_factory=dict)
    trivial_ms: list[float] = field(default_factory=list)

    @property
    def measured(self) -> list[float]:
        return [ms for samples in self.call_ms.values() for ms in samples]


async def timed(client: httpx.AsyncClient, path: str) -> float:
    """Milliseconds of one GET; anything but 200 ends the benchmark (a failing call measures nothing)."""
    started = time.perf_counter()
    response = await client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    return elapsed


async def signed_in(client: httpx.AsyncClient, login: str) -> None:
    from linli.demo import DEMO_PASSWORD

    token = await client.post("/api/v1/auth/token", data={"username": login, "password": DEMO_PASSWORD})
    token.raise_for_status()
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"


async def drive_paired(client: httpx.AsyncClient, calls: dict[str, str], seconds: float) -> PairedRound:
    """Each call in turn, each followed by the trivial one, one request at a time, for `seconds`."""
    out = PairedRound()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, path in calls.items():
            out.call_ms.setdefault(name, []).append(await timed(client, path))
            out.trivial_ms.append(await timed(client, TRIVIAL))
    return out


async def measure_paired(
    client: httpx.AsyncClient, calls: dict[str, str], *, warm_up: float, rounds: int, seconds: float
) -> list[PairedRound]:
    """A discarded warm-up, then `rounds` rounds of `seconds`."""
    await drive_paired(client, calls, warm_up)
    return [await drive_paired(client, calls, seconds) for _ in range(rounds)]


def paired_result(rounds: list[PairedRound], name: str, what: str) -> str:
    """RESULT fields: the measured calls' p95 (95 % CI), the trivial call's, their ratio taken per round,
    the p50, and each call's own p95."""
    measured = [ms for r in rounds for ms in r.measured]
    trivial = [ms for r in rounds for ms in r.trivial_ms]
    p95 = Spread.bootstrap(measured, lambda s: percentile(s, 0.95))
    ratio = Spread.of([percentile(r.measured, 0.95) / percentile(r.trivial_ms, 0.95) for r in rounds])
    each = " ".join(
        f"{call}_p95_ms={percentile([ms for r in rounds for ms in r.call_ms[call]], 0.95):.1f}"
        for call in rounds[0].call_ms
    )
    print(f"{what} p95 {p95.text('.1f', 'ms')} (95 % CI) over {len(measured)} requests")
    print(f"trivial call ({TRIVIAL}) p95 {percentile(trivial, 0.95):.1f} ms; ratio {ratio.text('.2f', '×')}")
    return (
        f"{p95.fields(f'{name}_p95_ms', '.1f', 'ci95')} trivial_p95_ms={percentile(trivial, 0.95):.1f} "
        f"{ratio.fields(f'{name}_p95_ratio', '.2f')} {name}_p50_ms={percentile(measured, 0.5):.1f} {each}"
    )
