"""`linli ingest`: the MQTT consumer. Several run in parallel on one shared subscription; each message is
acknowledged (PUBACK) only after the batch holding it committed, so a worker that dies mid-batch loses
nothing: the broker redelivers to the stable client id's persistent session (or to another worker)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import DBAPIError, OperationalError

from linli.iot import broker, service
from linli.iot.ingest import BatchResult, IngestWriter, Message
from linli.platform.broker import broker_address, new_client

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
        max_batch: int = 2000,
        max_wait_s: float = 0.02,
        writer: IngestWriter | None = None,
        session_expiry_s: int = SESSION_EXPIRY_S,
    ) -> None:
        self.group = group
        self.session_expiry_s = session_expiry_s
        self.client_id = client_id or stable_client_id(int(os.environ.get("LINLI_INGEST_INDEX", "0")))
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.writer = writer or IngestWriter()
        self.queue: deque[mqtt.MQTTMessage] = deque()
        self.stats = Stats()
        self.subscribed = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._client: mqtt.Client | None = None
        self.task_error: BaseException | None = None

    def filters(self) -> list[str]:
        return [f"$share/{self.group}/linli/+/+/telemetry", f"$share/{self.group}/linli/+/+/acks"]

    # ------------------------------------------------------------ paho thread

    def _on_connect(self, c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
        if reason.is_failure:
            log.error("broker refused the ingest client: %s", reason)
            return
        c.subscribe([(f, 1) for f in self.filters()])

    def _on_subscribe(self, c: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], p: object) -> None:
        if any(r.is_failure for r in reasons):
            log.error("shared subscription refused: %s", reasons)
        else:
            self.subscribed.set()

    def _on_message(self, c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        was_empty = not self.queue
        self.queue.append(message)
        if was_empty and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _connect(self) -> mqtt.Client:
        address = broker_address()
        client = new_client(
            self.client_id,
            username=broker.SERVICE_USER,
            password=broker.service_password(),
            clean_start=False,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 5)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = 1000
        client.connect_async(address.host, address.port, keepalive=30, clean_start=False, properties=props)
        client.loop_start()
        return client

    # ------------------------------------------------------------ asyncio side

    def _take(self) -> list[mqtt.MQTTMessage]:
        batch: list[mqtt.MQTTMessage] = []
        while self.queue and len(batch) < self.max_batch:
            batch.append(self.queue.popleft())
        return batch

    async def process(self, batch: list[mqtt.MQTTMessage]) -> BatchResult:
        telemetry: list[Message] = []
        acks: list[Message] = []
        for m in batch:
            parsed = parse_topic(m.topic)
            if parsed is None:
                continue
            slug, serial, kind = parsed
            msg = Message(source="mqtt", payload=bytes(m.payload), topic=m.topic, slug=slug, serial=serial)
            (acks if kind == "acks" else telemetry).append(msg)
        return await self._write_with_retry(telemetry, acks)

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

    async def run(self, stop: asyncio.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await broker.ensure_service_client()
        client = self._connect()
        self._client = client
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                # Clear before looking: a wake-up sent between the look and the wait is never lost.
                self._wake.clear()
                if not self.queue:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                    except TimeoutError:
                        continue
                if len(self.queue) < self.max_batch and self.max_wait_s > 0:
                    await asyncio.sleep(self.max_wait_s)
                batch = self._take()
                if not batch:
                    continue
                try:
                    result = await self.process(batch)
                except Exception as exc:
                    self.task_error = exc
                    raise
                for m in batch:
                    client.ack(m.mid, m.qos)
                self.stats.messages += len(batch)
                self.stats.batches += 1
                self.stats.readings += result.accepted
                self.stats.stored += result.stored
                self.stats.dead += result.dead
                if result.commands:
                    await service.dispatch_commands(result.commands)
        finally:
            client.disconnect()
            client.loop_stop()


async def run_forever(
    *, group: str = broker.SHARE_GROUP, client_id: str | None = None, session_expiry_s: int = SESSION_EXPIRY_S
) -> None:
    consumer = IngestConsumer(group=group, client_id=client_id, session_expiry_s=session_expiry_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("ingest consumer %s on %s", consumer.client_id, consumer.filters())
    await consumer.run(stop)
