"""`linli health worker|ingest`, the exec probes of the workloads without an HTTP port: each passes only
while the process's own loop reports, and `--ready` only while it can work."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from arq.worker import Worker, get_kwargs
from redis.asyncio import Redis

from linli.platform.jobs import WorkerSettings
from linli.platform.probes import STALE_AFTER_S, WORKER_HEALTH_EVERY_S, heartbeat_problem, worker_health_key
from linli.platform.settings import get_settings
from tests.conftest import ROOT


def probe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """What the kubelet runs in the pod (`linli health ...`), as a process of its own."""
    command = [sys.executable, "-m", "linli.cli", "health", *args]
    return subprocess.run(command, env=os.environ | env, capture_output=True, text=True, cwd=ROOT, timeout=60)


async def nothing(ctx: dict[str, Any]) -> None:
    """The worker under test runs no job; its poll loop alone records its health."""


async def test_the_worker_probe_passes_only_while_this_hosts_worker_loop_reports() -> None:
    redis = Redis.from_url(get_settings().redis_url)
    key = worker_health_key()
    assert WorkerSettings.health_check_key == key and key.endswith(os.uname().nodename)
    await redis.delete(key)
    dead = probe("worker")
    assert dead.returncode == 1 and "no health recorded" in dead.stderr

    # Another pod's worker cannot vouch for this one.
    await redis.set(worker_health_key("linli-worker-other-pod"), b"alive", px=5000)
    assert probe("worker").returncode == 1

    settings = get_kwargs(WorkerSettings) | {"functions": [nothing], "cron_jobs": [], "queue_name": "linli-test-probe"}
    worker = Worker(**settings, poll_delay=0.05, handle_signals=False)
    loop = asyncio.create_task(worker.main())
    try:
        for _ in range(100):
            if await redis.exists(key):
                break
            await asyncio.sleep(0.05)
        # Renewed by the loop or gone a second after the interval: a stuck loop fails the probe.
        assert 0 < await redis.pttl(key) <= (WORKER_HEALTH_EVERY_S + 1) * 1000
        alive = probe("worker")
        assert alive.returncode == 0, alive.stderr
        ready = probe("worker", "--ready")
        assert ready.returncode == 0, ready.stderr
        unreachable = "postgresql+psycopg://linli_worker:linli_worker@127.0.0.1:1/linli"
        no_database = probe("worker", "--ready", LINLI_WORKER_DATABASE_URL=unreachable)
        assert no_database.returncode == 1 and "database unavailable" in no_database.stderr
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await worker.close()  # a worker that stops removes its key
    assert probe("worker").returncode == 1
    await redis.aclose()


def write_beat(path: Path, *, at: float, ready: bool) -> None:
    path.write_text(json.dumps({"at": at, "ready": ready}))


def test_the_heartbeat_check_wants_a_fresh_beat_and_for_readiness_a_ready_one(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    now = time.time()
    assert heartbeat_problem(None, ready=False) == "LINLI_HEALTH_FILE is not set"
    assert heartbeat_problem(path, ready=False) == f"no heartbeat at {path} yet"
    write_beat(path, at=now, ready=False)
    assert heartbeat_problem(path, ready=False, now=now + 1) is None
    assert "not ready" in str(heartbeat_problem(path, ready=True, now=now + 1))
    write_beat(path, at=now, ready=True)
    assert heartbeat_problem(path, ready=True, now=now + 1) is None
    stale = heartbeat_problem(path, ready=False, now=now + STALE_AFTER_S + 1)
    assert stale is not None and stale.startswith("last heartbeat 31 s ago")
    for broken in ("{", '{"ready": true}', "[]"):
        path.write_text(broken)
        assert str(heartbeat_problem(path, ready=False)).startswith("unreadable heartbeat"), broken


def test_the_ingest_probe_reads_the_configured_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    assert probe("ingest").returncode == 1  # LINLI_HEALTH_FILE unset in the tests
    write_beat(path, at=time.time(), ready=False)
    assert probe("ingest", LINLI_HEALTH_FILE=str(path)).returncode == 0
    assert probe("ingest", "--ready", LINLI_HEALTH_FILE=str(path)).returncode == 1
    write_beat(path, at=time.time() - STALE_AFTER_S - 5, ready=True)
    stale = probe("ingest", LINLI_HEALTH_FILE=str(path))
    assert stale.returncode == 1 and "last heartbeat" in stale.stderr
