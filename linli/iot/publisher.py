"""One long-lived MQTT client per process for platform publishes (commands to actuators)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from linli.iot import broker
from linli.platform.broker import broker_address, new_client

_lock = threading.Lock()
_client: mqtt.Client | None = None
_connected = threading.Event()


def _connect() -> mqtt.Client:
    global _client
    with _lock:
        if _client is not None:
            return _client
        address = broker_address()
        client = new_client(
            f"linli-pub-{uuid.uuid4().hex[:10]}", username=broker.SERVICE_USER, password=broker.service_password()
        )

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
            if not reason.is_failure:
                _connected.set()

        def on_disconnect(c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
            _connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.connect(address.host, address.port, keepalive=30)
        client.loop_start()
        _client = client
        return client


def _publish(messages: list[tuple[str, bytes]], timeout: float) -> None:
    client = _connect()
    if not _connected.wait(timeout):
        raise broker.BrokerError("the platform's MQTT client is not connected")
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise broker.BrokerError("the broker did not acknowledge a command")


_ensured = False


async def ensure_ready() -> None:
    global _ensured
    if not _ensured:
        await broker.ensure_service_client()
        _ensured = True


async def publish(messages: list[tuple[str, bytes]], *, wait_s: float = 5.0) -> None:
    """Publish at QoS 1 and wait for the broker's acknowledgements."""
    if messages:
        await ensure_ready()
        await asyncio.to_thread(_publish, messages, wait_s)
