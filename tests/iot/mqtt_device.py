"""A device on the real broker, for tests: connect with its credentials, publish, receive commands."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from linli.iot import broker
from linli.platform.broker import broker_address, new_client


class MqttDevice:
    def __init__(self, credentials: dict[str, Any]) -> None:
        self.credentials = credentials
        self.connected = threading.Event()
        self.connect_reason: ReasonCode | None = None
        self.puback: dict[int, ReasonCode] = {}
        self.suback: dict[int, list[ReasonCode]] = {}
        self.messages: list[tuple[str, Any]] = []
        self.client = new_client(
            f"test-{uuid.uuid4().hex[:10]}",
            username=credentials["mqtt_username"],
            password=credentials["mqtt_password"],
        )
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        self.connect_reason = reason
        self.connected.set()

    def _on_publish(self, c: mqtt.Client, u: object, mid: int, reason: ReasonCode, p: object) -> None:
        self.puback[mid] = reason

    def _on_subscribe(self, c: mqtt.Client, u: object, mid: int, reasons: list[ReasonCode], p: object) -> None:
        self.suback[mid] = reasons

    def _on_message(self, c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        self.messages.append((message.topic, orjson.loads(message.payload)))

    async def connect(self) -> bool:
        address = broker_address()
        self.client.connect(address.host, address.port, keepalive=30)
        self.client.loop_start()
        for _ in range(100):
            if self.connected.is_set():
                break
            await asyncio.sleep(0.02)
        return self.connect_reason is not None and not self.connect_reason.is_failure

    async def publish(self, topic: str, payload: Any) -> ReasonCode:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        info = self.client.publish(topic, data, qos=1)
        for _ in range(200):
            if info.mid in self.puback:
                return self.puback[info.mid]
            await asyncio.sleep(0.01)
        raise TimeoutError("no PUBACK")

    async def subscribe(self, topic: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe(topic, qos=1)
        for _ in range(200):
            if mid in self.suback:
                return self.suback[mid]
            await asyncio.sleep(0.01)
        raise TimeoutError("no SUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def eventually(check: Any, *, attempts: int = 100, every: float = 0.05) -> Any:
    """Poll an async check until it returns something truthy (the ingest worker is asynchronous)."""
    result = None
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(every)
    return result


def purge_sessions(client_ids: list[str]) -> None:
    """End broker sessions of these client ids (clean start, expiry 0) so nothing queues for them."""
    address = broker_address()
    for cid in client_ids:
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        client.username_pw_set(broker.SERVICE_USER, broker.service_password())
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        client.connect(address.host, address.port, clean_start=True, properties=props)
        client.loop_start()
        time.sleep(0.3)
        client.disconnect()
        client.loop_stop()
