"""Is this process alive, and ready for work? The checks behind the API's `/readyz` (its dependencies) and
behind `linli health worker|ingest`, the exec probes of the two workloads that serve no HTTP.

- The arq worker records its health in Redis from its poll loop (arq's health-check key, every
  WORKER_HEALTH_EVERY_S, expiring one second later); each pod has a key of its own (the host name in it),
  so one healthy replica cannot vouch for a stuck one. No key: the loop is stuck or Redis is gone.
- An MQTT ingest worker writes a heartbeat file (LINLI_HEALTH_FILE) from its consumer loop, also while it
  waits for the database to come back, and says in it whether it is ready: every broker connection
  subscribed and the last batch written. A file older than STALE_AFTER_S: the loop is stuck.

A probe starts a Python process: only what it needs is imported here (no FastAPI, no domains).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from arq.constants import default_queue_name, health_check_key_suffix
from redis.asyncio import Redis
from redis.exceptions import RedisError

from linli.platform.settings import get_settings

WORKER_HEALTH_EVERY_S = 10
HEARTBEAT_EVERY_S = 5.0
STALE_AFTER_S = 30.0


def worker_health_key(host: str | None = None) -> str:
    """arq's health-check key of the worker on `host` (this one by default)."""
    return f"{default_queue_name}{health_check_key_suffix}:{host or socket.gethostname()}"


async def check_database() -> None:
    """Each database role this process was given (an ingest-http pod has only the worker role's URL)."""
    from sqlalchemy import text

    from linli.platform.db import get_engine

    settings = get_settings()
    for kind, url in (("api", settings.database_url), ("worker", settings.worker_database_url)):
        if url:
            async with get_engine(kind).connect() as conn:
                await conn.execute(text("select 1"))


async def check_redis() -> None:
    client = Redis.from_url(get_settings().redis_url, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def worker_problem(*, ready: bool) -> str | None:
    """None when this host's arq worker recorded its health within the last interval (and, for `ready`,
    the database answers); else what is wrong, in one line."""
    client = Redis.from_url(get_settings().redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        recorded = await client.get(worker_health_key())
    except RedisError as exc:
        return f"Redis unavailable: {exc}"
    finally:
        await client.aclose()
    if recorded is None:
        return f"no health recorded by the worker in the last {WORKER_HEALTH_EVERY_S + 1} s"
    if ready:
        await check_database()
    return None


def write_heartbeat(path: Path, *, ready: bool) -> None:
    """Replace the heartbeat file in one step (a probe never reads half a file)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({"at": time.time(), "ready": ready}))
    partial.replace(path)


def heartbeat_problem(path: Path | None, *, ready: bool, now: float | None = None) -> str | None:
    """None when the heartbeat at `path` is fresh (and, for `ready`, says ready); else what is wrong."""
    if path is None:
        return "LINLI_HEALTH_FILE is not set"
    try:
        beat = json.loads(path.read_text())
        at, is_ready = float(beat["at"]), bool(beat["ready"])
    except FileNotFoundError:
        return f"no heartbeat at {path} yet"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable heartbeat at {path}: {exc!r}"
    age = (now if now is not None else time.time()) - at
    if age > STALE_AFTER_S:
        return f"last heartbeat {age:.0f} s ago (stuck after {STALE_AFTER_S:.0f} s)"
    if ready and not is_ready:
        return "not ready: a broker connection is down or the database refuses the batch"
    return None
