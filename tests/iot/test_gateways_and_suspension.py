"""Who may publish what: only gateways publish readings of other devices (of their own tenant), and a
suspended tenant's devices are refused over MQTT as over HTTP (issue 9, item 20)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from linli.iot.consumer import IngestConsumer
from linli.iot.ingest import IngestWriter, Message
from tests.conftest import Login
from tests.iot.conftest import Devices
from tests.iot.mqtt_device import MqttDevice, eventually
from tests.iot.test_device_types import gas_detector
from tests.tenants.support import node_by_name, superuser


def batch(*readings: tuple[str, float], at: datetime) -> bytes:
    return orjson.dumps(
        {"readings": [{"serial": s, "ts": at.isoformat(), "metrics": {"co_ppm": v}} for s, v in readings]}
    )


def mqtt_message(sender: dict[str, Any], payload: bytes) -> Message:
    return Message(
        source="mqtt",
        payload=payload,
        topic=sender["credentials"]["telemetry_topic"],
        slug="mumianling",
        serial=sender["serial"],
    )


def stored_values(device_id: int) -> list[float]:
    with superuser() as conn:
        rows = conn.execute("select value from telemetry where device_id = %s order by ts", (device_id,)).fetchall()
    return [r[0] for r in rows]


def dead_reasons(device_id: int) -> list[str]:
    with superuser() as conn:
        rows = conn.execute("select reason from dead_letters where device_id = %s order by id", (device_id,)).fetchall()
    return [r[0] for r in rows]


def other_tenants_device() -> tuple[int, str]:
    """A device of 南虹村社区 (another district's tenant), committed."""
    serial = f"CO-NH-{uuid.uuid4().hex[:8]}"
    with superuser() as conn:
        estate = conn.execute(
            "select n.id, n.node_path::text from nodes n where n.name = '林荫街9号院' and n.level = 'estate'"
        ).fetchone()
        assert estate is not None
        row = conn.execute(
            "insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, "
            "mqtt_username) values ((select id from tenants where slug = 'nanhong'), %s, text2ltree(%s), "
            "'co_sensor', %s, '{}', md5(%s) || md5(%s), 'nanhong.' || %s) returning id",
            (estate[0], estate[1], serial, serial, serial[::-1], serial),
        ).fetchone()
    assert row is not None
    return int(row[0]), serial


async def test_a_gateway_publishes_for_devices_of_its_tenant_only(devices: Devices, estate: dict[str, Any]) -> None:
    gateway = await devices.register_with("co_sensor", estate["id"], gateway=True, building="1栋")
    neighbour = await devices.register("co_sensor", estate["id"], building="1栋")
    foreign_id, foreign_serial = other_tenants_device()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    payload = batch((neighbour["serial"], 4.0), (foreign_serial, 9.0), (gateway["serial"], 2.0), at=at)

    result = await IngestWriter().write([mqtt_message(gateway, payload)])

    assert (result.accepted, result.stored, result.dead) == (2, 2, 1)
    assert [e["reason"] for e in result.errors] == ["unknown_device"]
    assert stored_values(neighbour["id"]) == [4.0] and stored_values(gateway["id"]) == [2.0]
    assert stored_values(foreign_id) == []
    assert dead_reasons(gateway["id"]) == ["unknown_device"]


async def test_a_device_that_is_no_gateway_publishes_only_its_own_readings(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("co_sensor", estate["id"], building="2栋")
    neighbour = await devices.register("co_sensor", estate["id"], building="2栋")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)

    result = await IngestWriter().write(
        [mqtt_message(sensor, batch((neighbour["serial"], 40.0), (sensor["serial"], 1.0), at=at))]
    )
    assert (result.stored, result.dead) == (1, 1)
    over_http = await live.post(
        "/api/v1/ingest",
        content=batch((neighbour["serial"], 41.0), at=at + timedelta(seconds=1)),
        headers={"X-Device-Token": sensor["credentials"]["token"]},
    )
    assert over_http.status_code == 400 and over_http.json()["error"]["code"] == "not_a_gateway"

    assert stored_values(neighbour["id"]) == [] and stored_values(sensor["id"]) == [1.0]
    assert dead_reasons(sensor["id"]) == ["not_a_gateway", "not_a_gateway"]


async def test_devices_of_a_gateway_type_publish_for_others(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    community, _ = node_by_name("木棉岭社区")
    body = gas_detector(community) | {"gateway": True, "rules": []}
    created = await live.post("/api/v1/device-types", json=body, headers=await Login(live)("admin@luohu.demo"))
    assert created.status_code == 201 and created.json()["gateway"] is True, created.text
    hub = await devices.register(body["code"], estate["id"], building="3栋")
    sensor = await devices.register("co_sensor", estate["id"], building="3栋")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    answer = await live.post(
        "/api/v1/ingest",
        content=batch((sensor["serial"], 6.5), at=at),
        headers={"X-Device-Token": hub["credentials"]["token"]},
    )
    assert answer.status_code == 202 and answer.json()["stored"] == 1, answer.text
    assert stored_values(sensor["id"]) == [6.5]


async def test_mqtt_ingest_for_a_suspended_tenant_stores_nothing_and_dead_letters(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], consumer: IngestConsumer
) -> None:
    gateway = await devices.register_with("co_sensor", estate["id"], gateway=True, building="4栋")
    neighbour = await devices.register("co_sensor", estate["id"], building="4栋")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    with superuser() as conn:
        conn.execute("update tenants set status = 'suspended' where slug = 'mumianling'")
    consumer.writer.devices.inactive_loaded = -1e9  # the writer keeps tenant statuses for a few seconds
    device = MqttDevice(gateway["credentials"])
    try:
        assert await device.connect()
        await device.publish(
            gateway["credentials"]["telemetry_topic"], {"ts": at.isoformat(), "metrics": {"co_ppm": 3}}
        )
        await device.publish(
            gateway["credentials"]["telemetry_topic"], batch((neighbour["serial"], 5.0), at=at + timedelta(seconds=1))
        )

        async def refused() -> list[str]:
            found = dead_reasons(gateway["id"])
            return found if len(found) >= 2 else []

        assert await eventually(refused) == ["tenant_suspended", "tenant_suspended"]
        over_http = await live.post(
            "/api/v1/ingest",
            json={"metrics": {"co_ppm": 3}},
            headers={"X-Device-Token": gateway["credentials"]["token"]},
        )
        assert over_http.status_code == 401
    finally:
        device.close()
        with superuser() as conn:
            conn.execute("update tenants set status = 'active' where slug = 'mumianling'")
        consumer.writer.devices.inactive_loaded = -1e9
    assert stored_values(gateway["id"]) == [] and stored_values(neighbour["id"]) == []


async def test_a_suspended_tenant_may_revoke_its_devices_but_not_register_any(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    """Revoking only reduces access: like revoking an API key, it stays possible while suspended."""
    sensor = await devices.register("co_sensor", estate["id"], building="5栋")
    with superuser() as conn:
        conn.execute("update tenants set status = 'suspended' where slug = 'mumianling'")
    try:
        body = {"type": "co_sensor", "serial": f"CO-{uuid.uuid4().hex[:8]}", "node_id": estate["id"]}
        registered = await live.post("/api/v1/devices", json=body, headers=devices.headers)
        assert registered.status_code == 403 and registered.json()["error"]["code"] == "tenant_read_only"
        revoked = await live.delete(f"/api/v1/devices/{sensor['id']}", headers=devices.headers)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"
    finally:
        with superuser() as conn:
            conn.execute("update tenants set status = 'active' where slug = 'mumianling'")
