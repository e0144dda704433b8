"""`linli ingest`: the MQTT consumer. Several run in parallel on one shared subscription; each message is
acknowledged (PUBACK) only after the batch holding it committed, so a worker that dies mid-batch loses
nothing: the broker redelivers to the stable client id's persistent session (or to another worker).

Each worker holds `connections` MQTT connections (the broker lets each have at most
`max_inflight_messages` unacknowledged messages, so more connections mean bigger batches) and writes
one batch at a time from all of them.

With a heartbeat file (LINLI_HEALTH_FILE) the consumer loop renews it every few seconds, also while it waits
for the database, and says whether it is ready: every connection subscribed and the last batch written
(`linli health ingest`, the chart's probes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError

from linli.iot import broker, service
from linli.iot.ingest import BatchResult, IngestWriter, Message
from linli.iot.mqttwire import MqttError, Publish, WireSubscriber
from linli.platform.broker import broker_address
from linli.platform.metrics import serve_metrics
from linli.platform.probes import HEARTBEAT_EVERY_S, write_heartbeat
from linli.platform.settings import get_settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 3600


@dataclass
class Stats:
    messages: int = 0
    batches: int = 0
    readings: int = 0
    stored: int = 0
    dead: int = 0


def stable_client_id(index: int = 0) -> str:
    return f"linli-ingest-{socket.gethostname()}-{index}"


def parse_topic(topic: str) -> tuple[str, str, str] | None:
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "linli" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2], parts[3]


class IngestConsumer:
    def __init__(
        self,
        *,
        group: str = broker.SHARE_GROUP,
        client_id: str | None = None,
        max_batch: int = 5000,
        max_batch_bytes: int = 1_000_000,
        max_wait_s: float = 0.01,
        writer: IngestWriter | None = None,
        session_expiry_s: int = SESSION_EXPIRY_S,
        connections: int = 2,
        health_file: Path | None = None,
    ) -> None:
        self.group = group
        self.session_expiry_s = session_expiry_s
        self.client_id = client_id or stable_client_id(int(os.environ.get("LINLI_INGEST_INDEX", "0")))
        self.max_batch = max_batch
        # Bounded by payload too: a gateway message holds hundreds of readings, and a batch of a few
        # thousand of them was one transaction of half a million rows (seconds of stall, sorts on disk).
        self.max_batch_bytes = max_batch_bytes
        self.max_wait_s = max_wait_s
        self.writer = writer or IngestWriter()
        self.connections = connections
        self.stats = Stats()
        self.subscribed = threading.Event()
        self.task_error: BaseException | None = None
        self.links: list[WireSubscriber] = []
        self._wake = asyncio.Event()
        self.health_file = health_file
        self.connected: set[WireSubscriber] = set()
        self.writing = True  # the last batch was written (False while the database refuses it)
        self._last_beat: tuple[float, bool] | None = None

    def ready(self) -> bool:
        return bool(self.links) and len(self.connected) == len(self.links) and self.writing

    def beat(self) -> None:
        """Renew the heartbeat file: every HEARTBEAT_EVERY_S, and at once when readiness changes."""
        if self.health_file is None:
            return
        now, ready = time.monotonic(), self.ready()
        if self._last_beat is not None and now - self._last_beat[0] < HEARTBEAT_EVERY_S and self._last_beat[1] == ready:
            return
        write_heartbeat(self.health_file, ready=ready)
        self._last_beat = (now, ready)

    def filters(self) -> list[str]:
        return [f"$share/{self.group}/linli/+/+/telemetry", f"$share/{self.group}/linli/+/+/acks"]

    async def _keep_connected(self, link: WireSubscriber, stop: asyncio.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                await link.connect(self.filters())
            except (MqttError, ConnectionError, OSError) as exc:
                log.warning("ingest connection %s failed (%s); retrying in %.1fs", link.client_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            self.connected.add(link)
            if len(self.connected) == len(self.links):
                self.subscribed.set()
            if link.pending:
                self._wake.set()
            await link.pump()
            self.connected.discard(link)
            if not stop.is_set():
                log.warning("ingest connection %s lost; reconnecting", link.client_id)

    async def process(self, batch: list[Publish]) -> BatchResult:
        telemetry: list[Message] = []
        acks: list[Message] = []
        for m in batch:
            parsed = parse_topic(m.topic)
            if parsed is None:
                continue
            slug, serial, kind = parsed
            msg = Message(
                source="mqtt", payload=m.payload, topic=m.topic, slug=slug, serial=serial, received_at=m.received_at
            )
            (acks if kind == "acks" else telemetry).append(msg)
        result = await self._write_with_retry(telemetry, acks)
        self.writing = True
        return result

    async def _write_with_retry(self, telemetry: list[Message], acks: list[Message]) -> BatchResult:
        delay, failures = 0.2, 0
        while True:
            try:
                return await self.writer.write(telemetry, acks=acks)
            except OperationalError as exc:
                # The database is away: nothing is acknowledged; retry the same batch until it is back.
                log.warning("ingest batch failed (%s); retrying in %.1fs", str(exc).splitlines()[0], delay)
            except (DBAPIError, OSError) as exc:
                failures += 1
                log.warning("ingest batch failed (%s)", str(exc).splitlines()[0])
                if failures >= 3:
                    return await self._one_by_one(telemetry, acks)
            self.writing = False
            self.beat()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _one_by_one(self, telemetry: list[Message], acks: list[Message]) -> BatchResult:
        """A batch that keeps failing for a reason other than an unreachable database: isolate the
        message at fault so it cannot block the stream; it is recorded as a dead letter."""
        total = BatchResult()
        for msg, is_ack in [(m, False) for m in telemetry] + [(m, True) for m in acks]:
            try:
                part = await self.writer.write([] if is_ack else [msg], acks=[msg] if is_ack else [])
            except OperationalError:
                raise
            except (DBAPIError, OSError) as exc:
                log.error("message on %s could not be stored: %s", msg.topic, str(exc).splitlines()[0])
                await self.writer.record_failure(msg, str(exc).splitlines()[0])
                continue
            total.accepted += part.accepted
            total.stored += part.stored
            total.dead += part.dead
            total.commands.extend(part.commands)
        return total

    def _batch_full(self) -> bool:
        count, size = 0, 0
        for link in self.links:
            for message in link.pending:
                count += 1
                size += len(message.payload)
                if count >= self.max_batch or size >= self.max_batch_bytes:
                    return True
        return False

    def _take(self) -> list[tuple[WireSubscriber, list[Publish]]]:
        taken: list[tuple[WireSubscriber, list[Publish]]] = []
        room, room_bytes = self.max_batch, self.max_batch_bytes
        for link in self.links:
            if room <= 0 or room_bytes <= 0:
                break
            part = link.take(room, room_bytes)
            if part:
                taken.append((link, part))
                room -= len(part)
                room_bytes -= sum(len(m.payload) for m in part)
        return taken

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        self._wake = asyncio.Event()
        await broker.ensure_service_client()
        address = broker_address()
        self.links = [
            WireSubscriber(
                host=address.host,
                port=address.port,
                client_id=f"{self.client_id}-{i}" if self.connections > 1 else self.client_id,
                username=broker.SERVICE_USER,
                password=broker.service_password(),
                session_expiry_s=self.session_expiry_s,
                notify=self._wake,
            )
            for i in range(self.connections)
        ]
        keepers = [asyncio.create_task(self._keep_connected(link, stop)) for link in self.links]
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self.beat()
                self._wake.clear()
                if not any(link.pending for link in self.links):
                    waiter = asyncio.create_task(self._wake.wait())
                    await asyncio.wait({waiter, stopper}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    continue
                if self.max_wait_s > 0 and not self._batch_full():
                    await asyncio.sleep(self.max_wait_s)
                taken = self._take()
                batch = [m for _, part in taken for m in part]
                if not batch:
                    continue
                try:
                    result = await self.process(batch)
                except Exception as exc:
                    self.task_error = exc
                    raise
                for link, part in taken:
                    try:
                        await link.ack(part)
                    except (ConnectionError, OSError):
                        log.warning("could not acknowledge on %s; the broker will redeliver", link.client_id)
                self.stats.messages += len(batch)
                self.stats.batches += 1
                self.stats.readings += result.accepted
                self.stats.stored += result.stored
                self.stats.dead += result.dead
                if result.commands:
                    await service.dispatch_commands(result.commands)
        finally:
            stopper.cancel()
            for link in self.links:
                await link.close()
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
            self.connected.clear()
            self.beat()  # not ready any more: this worker is stopping


async def run_forever(
    *, group: str = broker.SHARE_GROUP, client_id: str | None = None, session_expiry_s: int = SESSION_EXPIRY_S
) -> None:
    consumer = IngestConsumer(
        group=group, client_id=client_id, session_expiry_s=session_expiry_s, health_file=get_settings().health_file
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("ingest consumer %s on %s", consumer.client_id, consumer.filters())
    serve_metrics("ingest")
    await consumer.run(stop)
