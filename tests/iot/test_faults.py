"""Faults: an ingest worker killed (SIGKILL) mid-stream while a device keeps publishing; afterwards every
reading the broker accepted is stored exactly once. (Restarting the shared PostgreSQL and Mosquitto is
left to the lead's environment: the services belong to the main checkout.)"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from linli.iot import broker
from linli.platform.broker import broker_address
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from tests.iot.conftest import Devices
from tests.iot.mqtt_device import MqttDevice


def _start(group: str, client_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "linli.cli", "ingest", "--group", group, "--client-id", client_id],
        env=dict(os.environ),
        start_new_session=True,
    )


def _purge_sessions(client_ids: list[str]) -> None:
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


async def _count(device_id: int) -> tuple[int, int]:
    from sqlalchemy import text

    async with scoped_session(SYSTEM_SCOPE) as session:
        row = (
            await session.execute(
                text("select count(*), count(distinct (ts, metric_id)) from telemetry where device_id = :d"),
                {"d": device_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_killed_worker_loses_and_duplicates_nothing(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("water_pressure_sensor", estate["id"], building="9栋")
    group = f"fault-{uuid.uuid4().hex[:6]}"
    ids = [f"{group}-a", f"{group}-b"]
    # Each worker holds two connections named <id>-0 and <id>-1.
    sessions = [f"{i}-{n}" for i in ids for n in (0, 1)]
    workers = [_start(group, cid) for cid in ids]
    device = MqttDevice(sensor["credentials"])
    assert await device.connect()
    total = 3000
    t0 = datetime.now(UTC) - timedelta(hours=1)
    try:
        # A shared group without members drops messages: probe until a worker stores one.
        for n in range(150):
            probe = (t0 - timedelta(days=1, seconds=n)).isoformat()
            await device.publish(
                sensor["credentials"]["telemetry_topic"], {"ts": probe, "metrics": {"pressure_mpa": 0.3}}
            )
            await asyncio.sleep(0.2)
            if (await _count(sensor["id"]))[0] > 0:
                break
        await asyncio.sleep(1.0)
        probes = (await _count(sensor["id"]))[0]
        device.puback.clear()
        accepted = 0
        for n in range(total):
            ts = (t0 + timedelta(milliseconds=n)).isoformat()
            device.client.publish(
                sensor["credentials"]["telemetry_topic"], f'{{"ts":"{ts}","metrics":{{"pressure_mpa":0.3}}}}', qos=1
            )
            if n == total // 3:
                os.killpg(workers[0].pid, signal.SIGKILL)  # mid-stream, batches in flight
                workers[0].wait()
            if n == 2 * total // 3:
                workers[0] = _start(group, ids[0])  # same client id: its session's messages come back
            if n % 100 == 0:
                await asyncio.sleep(0.05)
        for _ in range(200):
            if len(device.puback) >= total:
                break
            await asyncio.sleep(0.05)
        accepted = sum(1 for r in device.puback.values() if not r.is_failure)
        assert accepted == total
        stored = (0, 0)
        for _ in range(300):
            stored = await _count(sensor["id"])
            if stored[0] >= probes + accepted:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stored = await _count(sensor["id"])
        assert stored == (probes + accepted, probes + accepted)
    finally:
        device.close()
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            w.wait(timeout=10)
        _purge_sessions(sessions)
