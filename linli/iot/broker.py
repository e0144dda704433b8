"""Device credentials in the broker: Mosquitto's dynamic-security plugin, driven through its control topic.
With `LINLI_MQTT_AUTH_BACKEND=http` the broker asks Linli instead (linli/iot/brokerauth/) and nothing
here talks to it.

Mosquitto 2.0.11 does not substitute %c/%u in ACLs, so every device gets its own role that allows
publishing only to its telemetry and acks topics and subscribing only to its commands topic.
The platform's own service client (ingest, command publisher) has a role of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from linli.iot.config import get_iot_settings
from linli.platform.broker import broker_address, new_client
from linli.platform.settings import get_settings

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"
SERVICE_USER = "linli-service"
SERVICE_ROLE = "linli-service"
SHARE_GROUP = "linli-ingest"


class BrokerError(Exception):
    pass


def topic(slug: str, serial: str, kind: str) -> str:
    return f"linli/{slug}/{serial}/{kind}"


def device_role(username: str) -> str:
    return f"dev-{username}"


def dynsec_enabled() -> bool:
    """Whether Linli provisions logins in Mosquitto's dynamic-security plugin (the development default)."""
    return get_iot_settings().mqtt_auth_backend == "dynsec"


def service_password() -> str:
    """LINLI_MQTT_SERVICE_PASSWORD, or derived from the secret key, so every platform process knows it
    without another setting."""
    configured = get_iot_settings().mqtt_service_password
    if configured:
        return configured
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"linli-mqtt-service", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DeviceAcl:
    username: str
    password: str
    slug: str
    serial: str


def _acl(acltype: str, topic_: str, allow: bool = True) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic_, "priority": 0, "allow": allow}


def create_device_commands(device: DeviceAcl) -> list[dict[str, Any]]:
    role = device_role(device.username)
    return [
        {
            "command": "createRole",
            "rolename": role,
            "acls": [
                _acl("publishClientSend", topic(device.slug, device.serial, "telemetry")),
                _acl("publishClientSend", topic(device.slug, device.serial, "acks")),
                _acl("subscribePattern", topic(device.slug, device.serial, "commands")),
            ],
        },
        {
            "command": "createClient",
            "username": device.username,
            "password": device.password,
            "roles": [{"rolename": role}],
        },
    ]


def delete_device_commands(username: str) -> list[dict[str, Any]]:
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": device_role(username)},
    ]


def service_acls() -> list[dict[str, Any]]:
    """The platform's client: shared subscriptions (authorised against the full $share filter) and commands."""
    return [
        _acl("subscribePattern", "$share/+/linli/+/+/telemetry"),
        _acl("subscribePattern", "$share/+/linli/+/+/acks"),
        _acl("subscribePattern", "linli/+/+/#"),
        _acl("publishClientSend", "linli/+/+/commands"),
        _acl("publishClientSend", "linli/+/+/telemetry"),
        _acl("publishClientSend", "linli/+/+/acks"),
    ]


def _run_control(commands: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    settings = get_settings()
    address = broker_address()
    client = new_client(
        f"linli-ctl-{uuid.uuid4().hex[:10]}",
        username=settings.mqtt_admin_user,
        password=settings.mqtt_admin_password,
    )
    ready = threading.Event()
    done = threading.Event()
    failure: list[str] = []
    responses: list[dict[str, Any]] = []

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
        if reason.is_failure:
            failure.append(f"broker refused the admin client: {reason}")
            done.set()
            return
        c.subscribe(RESPONSE_TOPIC, qos=1)

    def on_subscribe(c: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], props: object) -> None:
        ready.set()

    def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            body = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return
        responses.extend(body.get("responses", []))
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(address.host, address.port, keepalive=10)
    client.loop_start()
    try:
        if not ready.wait(timeout) and not failure:
            raise BrokerError("no answer from the broker's control topic")
        if failure:
            raise BrokerError(failure[0])
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = uuid.uuid4().bytes
        client.publish(CONTROL_TOPIC, orjson.dumps({"commands": commands}), qos=1, properties=props)
        if not done.wait(timeout):
            raise BrokerError("the dynamic-security plugin did not answer")
        if failure:
            raise BrokerError(failure[0])
        return responses
    finally:
        client.disconnect()
        client.loop_stop()


async def control(commands: list[dict[str, Any]], *, wait_s: float = 5.0) -> list[dict[str, Any]]:
    """Send dynamic-security commands in one message; returns the plugin's responses in order."""
    return await asyncio.to_thread(_run_control, commands, wait_s)


def _errors(responses: list[dict[str, Any]], tolerate: tuple[str, ...] = ()) -> list[str]:
    errors = []
    for r in responses:
        error = r.get("error")
        if error and not any(t in str(error) for t in tolerate):
            errors.append(f"{r.get('command')}: {error}")
    return errors


async def create_devices(devices: list[DeviceAcl]) -> None:
    commands = [c for d in devices for c in create_device_commands(d)]
    for start in range(0, len(commands), 200):
        responses = await control(commands[start : start + 200])
        errors = _errors(responses)
        if errors:
            raise BrokerError("; ".join(errors))


async def delete_devices(usernames: list[str]) -> None:
    commands = [c for u in usernames for c in delete_device_commands(u)]
    for start in range(0, len(commands), 200):
        responses = await control(commands[start : start + 200])
        errors = _errors(responses, tolerate=("not found",))
        if errors:
            raise BrokerError("; ".join(errors))


async def ensure_service_client() -> tuple[str, str]:
    """Create the platform's own MQTT client if missing (or add ACLs it lacks); returns its login.
    Changes only what is missing: the plugin disconnects every client of a modified account, and the
    ingest workers share this account. With the HTTP backend the broker asks Linli: nothing to create."""
    if not dynsec_enabled():
        return SERVICE_USER, service_password()
    found = await control(
        [{"command": "getRole", "rolename": SERVICE_ROLE}, {"command": "getClient", "username": SERVICE_USER}]
    )
    commands: list[dict[str, Any]] = []
    role = found[0].get("data", {}).get("role") if not found[0].get("error") else None
    if role is None:
        commands.append({"command": "createRole", "rolename": SERVICE_ROLE, "acls": service_acls()})
    else:
        have = {(a.get("acltype"), a.get("topic")) for a in role.get("acls", [])}
        commands.extend(
            {"command": "addRoleACL", "rolename": SERVICE_ROLE, **acl}
            for acl in service_acls()
            if (acl["acltype"], acl["topic"]) not in have
        )
    if found[1].get("error"):
        commands.append(
            {
                "command": "createClient",
                "username": SERVICE_USER,
                "password": service_password(),
                "roles": [{"rolename": SERVICE_ROLE}],
            }
        )
    if commands:
        errors = _errors(await control(commands), tolerate=("already exists",))
        if errors:
            raise BrokerError("; ".join(errors))
    return SERVICE_USER, service_password()
