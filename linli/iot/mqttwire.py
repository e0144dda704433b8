"""A minimal MQTT 5 subscriber on asyncio streams for the ingest hot path.

paho-mqtt spends roughly 250 µs of Python per received message (callbacks, properties, locks), which
caps one ingest worker at about 3 000 messages/s on this class of machine. Ingest needs only CONNECT,
SUBSCRIBE, PUBLISH (QoS 0/1) in, PUBACK out (sent only after the batch committed) and PINGREQ: this
client parses every complete packet in each read and hands them over in bulk.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime


class MqttError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    packet_id: int
    qos: int
    generation: int
    # When it arrived: the ingest lag counts from here (messages wait here while a batch is written).
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


def _read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    value, shift = 0, 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise MqttError("malformed remaining length")


def connect_packet(
    *, client_id: str, username: str, password: str, keepalive_s: int, session_expiry_s: int, clean: bool
) -> bytes:
    """MQTT 5 CONNECT with a session expiry and the largest receive maximum."""
    props = b"\x11" + struct.pack("!I", session_expiry_s) + b"\x21" + struct.pack("!H", 65535)
    flags = 0x80 | 0x40 | (0x02 if clean else 0)
    variable = _str("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
    variable += _varint(len(props)) + props
    body = variable + _str(client_id) + _str(username) + _str(password)
    return b"\x10" + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """MQTT 5 PUBLISH at QoS 1, without properties."""
    body = _str(topic) + struct.pack("!H", packet_id) + b"\x00" + payload
    return b"\x32" + _varint(len(body)) + body


class WireSubscriber:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str,
        password: str,
        session_expiry_s: int,
        keepalive_s: int = 30,
        notify: asyncio.Event | None = None,
    ) -> None:
        self.notify = notify
        self.host, self.port = host, port
        self.client_id = client_id
        self.username, self.password = username, password
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.generation = 0
        self.buffer = bytearray()
        self.pending: list[Publish] = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()
        self._pinger: asyncio.Task[None] | None = None

    async def connect(self, filters: Sequence[str], *, first_connect_clean: bool = False) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.generation += 1
        self.buffer.clear()
        self.closed.clear()
        self.writer.write(
            connect_packet(
                client_id=self.client_id,
                username=self.username,
                password=self.password,
                keepalive_s=self.keepalive_s,
                session_expiry_s=self.session_expiry_s,
                clean=first_connect_clean,
            )
        )
        await self.writer.drain()
        kind, packet = await self._read_packet()
        if kind != 0x20:
            raise MqttError("expected CONNACK")
        if len(packet) < 3 or packet[2] >= 0x80:
            raise MqttError(f"broker refused the connection (reason 0x{packet[2] if len(packet) > 2 else 0:02x})")
        sub = struct.pack("!H", 1) + b"\x00" + b"".join(_str(f) + b"\x01" for f in filters)
        self.writer.write(b"\x82" + _varint(len(sub)) + sub)
        await self.writer.drain()
        while True:
            kind, packet = await self._read_packet()
            if kind == 0x90:
                reasons = packet[4 + packet[3] :] if len(packet) > 3 else b""
                if any(r >= 0x80 for r in reasons):
                    raise MqttError(f"subscription refused: {list(reasons)}")
                break
            if kind == 0x30:
                self._publish(packet[0], packet[1:])
        self._pinger = asyncio.create_task(self._ping())

    async def _read_packet(self) -> tuple[int, bytes]:
        assert self.reader is not None
        while True:
            parsed = self._split_one()
            if parsed is not None:
                return parsed
            chunk = await self.reader.read(65536)
            if not chunk:
                raise MqttError("connection closed by the broker")
            self.buffer += chunk

    def _split_one(self) -> tuple[int, bytes] | None:
        if len(self.buffer) < 2:
            return None
        header = self.buffer[0]
        got = _read_varint(self.buffer, 1)
        if got is None:
            return None
        length, start = got
        if len(self.buffer) < start + length:
            return None
        packet = bytes([header]) + bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        return header & 0xF0, packet

    def _publish(self, header: int, body: bytes) -> None:
        qos = (header >> 1) & 0x03
        tlen = struct.unpack_from("!H", body, 0)[0]
        topic = body[2 : 2 + tlen].decode("utf-8", errors="replace")
        pos = 2 + tlen
        packet_id = 0
        if qos:
            packet_id = struct.unpack_from("!H", body, pos)[0]
            pos += 2
        got = _read_varint(body, pos)
        if got is None:
            raise MqttError("malformed PUBLISH")
        plen, pos = got
        self.pending.append(Publish(topic, body[pos + plen :], packet_id, qos, self.generation))

    async def pump(self) -> None:
        """Read until the connection closes, parsing every complete packet of each chunk."""
        assert self.reader is not None
        try:
            while True:
                chunk = await self.reader.read(262144)
                if not chunk:
                    break
                self.buffer += chunk
                buf = self.buffer
                pos, n = 0, len(buf)
                before = len(self.pending)
                while n - pos >= 2:
                    got = _read_varint(buf, pos + 1)
                    if got is None:
                        break
                    length, start = got
                    if n < start + length:
                        break
                    header = buf[pos]
                    if header & 0xF0 == 0x30:
                        self._publish(header, bytes(buf[start : start + length]))
                    pos = start + length
                del buf[:pos]
                if len(self.pending) > before:
                    self.arrived.set()
                    if self.notify is not None:
                        self.notify.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            self.arrived.set()
            if self.notify is not None:
                self.notify.set()
            if self._pinger is not None:
                self._pinger.cancel()

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s / 2)
            if self.writer is None or self.writer.is_closing():
                return
            self.writer.write(b"\xc0\x00")

    def take(self, limit: int, max_bytes: int) -> list[Publish]:
        """Up to `limit` messages and about `max_bytes` of payload (at least one message)."""
        count, size = 0, 0
        for message in self.pending[:limit]:
            if count and size + len(message.payload) > max_bytes:
                break
            count += 1
            size += len(message.payload)
        batch, self.pending = self.pending[:count], self.pending[count:]
        if not self.pending:
            self.arrived.clear()
        return batch

    async def ack(self, messages: Sequence[Publish]) -> None:
        """PUBACK every QoS 1 message of this connection (messages of an earlier connection are
        redelivered by the broker and stored idempotently)."""
        if self.writer is None or self.writer.is_closing():
            return
        data = b"".join(
            b"\x40\x02" + struct.pack("!H", m.packet_id)
            for m in messages
            if m.qos == 1 and m.generation == self.generation
        )
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(b"\xe0\x00")
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()
            self.writer.close()
