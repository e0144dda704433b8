"""The MQTT broker behind one small interface (Mosquitto locally; EMQX or VerneMQ in a cluster)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from linli.platform.settings import get_settings


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def broker_address(url: str | None = None) -> BrokerAddress:
    parsed = urlparse(url or get_settings().mqtt_url)
    tls = parsed.scheme in ("mqtts", "ssl")
    return BrokerAddress(parsed.hostname or "127.0.0.1", parsed.port or (8883 if tls else 1883), tls)


def new_client(
    client_id: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    clean_start: bool = True,
    manual_ack: bool = False,
) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id or f"linli-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if username is not None:
        client.username_pw_set(username, password)
    return client


def _connect_once(timeout: float) -> None:
    settings = get_settings()
    address = broker_address()
    client = new_client(username=settings.mqtt_admin_user, password=settings.mqtt_admin_password)
    connected = threading.Event()
    outcome: list[str] = []

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
        outcome.append("ok" if not reason.is_failure else str(reason))
        connected.set()

    client.on_connect = on_connect
    client.connect(address.host, address.port, keepalive=10)
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise TimeoutError("no CONNACK from the broker")
        if outcome[0] != "ok":
            raise ConnectionError(f"broker refused the connection: {outcome[0]}")
    finally:
        client.disconnect()
        client.loop_stop()


async def ping(wait_s: float = 2.0) -> None:
    """Raise if the broker does not accept the platform's admin client."""
    await asyncio.wait_for(asyncio.to_thread(_connect_once, wait_s), wait_s + 1)
