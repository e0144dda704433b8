"""The ingest consumer's heartbeat (LINLI_HEALTH_FILE), which the chart's probes read: renewed by the
consumer loop, ready only while every broker connection is subscribed and batches are written."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from linli.iot.consumer import IngestConsumer
from linli.iot.ingest import BatchResult
from linli.platform.probes import heartbeat_problem
from tests.iot.mqtt_device import purge_sessions
from tests.platform.test_probes import probe


class FlakyWriter:
    """A writer whose database is away while `down` is set."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def write(self, telemetry: list[Any], *, acks: list[Any]) -> BatchResult:
        self.calls += 1
        if self.down:
            raise OperationalError("copy telemetry", {}, ConnectionRefusedError("connection refused"))
        return BatchResult()


async def until(condition: Any, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


async def test_the_heartbeat_says_ready_only_while_subscribed_and_writing(
    migrated_database: str, tmp_path: Path
) -> None:
    path = tmp_path / "linli-health.json"
    writer = FlakyWriter()
    consumer = IngestConsumer(
        group=f"linli-test-{uuid.uuid4().hex[:8]}",
        client_id=f"linli-ingest-health-{uuid.uuid4().hex[:8]}",
        session_expiry_s=0,
        writer=writer,  # type: ignore[arg-type]
        health_file=path,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await until(lambda: heartbeat_problem(path, ready=True) is None, "the consumer is ready")
        assert probe("ingest", "--ready", LINLI_HEALTH_FILE=str(path)).returncode == 0

        # The database goes away in the middle of a batch: alive (it retries), but not ready.
        writer.down = True
        batch = asyncio.create_task(consumer.process([]))
        await until(lambda: writer.calls >= 2, "the batch is retried")
        assert "not ready" in str(heartbeat_problem(path, ready=True))
        assert heartbeat_problem(path, ready=False) is None
        assert probe("ingest", LINLI_HEALTH_FILE=str(path)).returncode == 0
        assert probe("ingest", "--ready", LINLI_HEALTH_FILE=str(path)).returncode == 1
        writer.down = False
        await batch
        await until(lambda: heartbeat_problem(path, ready=True) is None, "ready again")

        # A broker connection drops and cannot come back for a while: not ready until it is subscribed again.
        link = consumer.links[0]
        port, link.port = link.port, 1
        assert link.writer is not None
        link.writer.close()
        await until(lambda: heartbeat_problem(path, ready=True) is not None, "a connection is down")
        assert heartbeat_problem(path, ready=False) is None
        link.port = port
        await until(lambda: heartbeat_problem(path, ready=True) is None, "reconnected")
    finally:
        stop.set()
        await task
        purge_sessions([f"{consumer.client_id}-{n}" for n in range(consumer.connections)])
    assert "not ready" in str(heartbeat_problem(path, ready=True))  # stopping
