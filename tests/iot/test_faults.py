"""Faults while a device keeps publishing — an ingest worker killed (SIGKILL), the broker restarted (a
private Mosquitto), the project's PostgreSQL restarted (scripts/services restart-postgres): afterwards
every reading the broker accepted is stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from linli.iot import broker
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from tests.iot.conftest import Devices
from tests.iot.mqtt_device import MqttDevice, purge_sessions


def _start(group: str, client_id: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "linli.cli", "ingest", "--group", group, "--client-id", client_id],
        env=env or dict(os.environ),
        start_new_session=True,
    )


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


async def _stream_through_fault(
    sensor: dict[str, Any], group: str, total: int, faults: dict[int, Callable[[list[Any]], Any]]
) -> None:
    """Two ingest workers of `group`; a device publishes `total` readings and `faults[n]` runs after the
    n-th (given the worker list; it may return an awaitable); then every reading the broker accepted
    must be stored exactly once."""
    ids = [f"{group}-a", f"{group}-b"]
    # Each worker holds two connections named <id>-0 and <id>-1.
    sessions = [f"{i}-{n}" for i in ids for n in (0, 1)]
    workers = [_start(group, cid) for cid in ids]
    device = MqttDevice(sensor["credentials"])
    assert await device.connect()
    t0 = datetime.now(UTC) - timedelta(hours=1)
    pending: list[Any] = []
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
        for n in range(total):
            ts = (t0 + timedelta(milliseconds=n)).isoformat()
            device.client.publish(
                sensor["credentials"]["telemetry_topic"], f'{{"ts":"{ts}","metrics":{{"pressure_mpa":0.3}}}}', qos=1
            )
            if n in faults and (outcome := faults[n](workers)) is not None:
                pending.append(asyncio.ensure_future(outcome))
            if n % 100 == 0:
                await asyncio.sleep(0.05)
        await asyncio.gather(*pending)
        for _ in range(200):
            if len(device.puback) >= total:
                break
            await asyncio.sleep(0.05)
        accepted = sum(1 for r in device.puback.values() if not r.is_failure)
        assert accepted == total
        for _ in range(600):
            try:
                if (await _count(sensor["id"]))[0] >= probes + accepted:
                    break
            except Exception:  # right after a database restart the first connections may fail
                pass
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert await _count(sensor["id"]) == (probes + accepted, probes + accepted)
        assert all(w.poll() is None for w in workers), "an ingest worker died"
    finally:
        device.close()
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            w.wait(timeout=10)
        purge_sessions(sessions)


async def test_killed_worker_loses_and_duplicates_nothing(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("water_pressure_sensor", estate["id"], building="9栋")
    group = f"fault-{uuid.uuid4().hex[:6]}"
    total = 3000

    def kill(workers: list[Any]) -> None:
        os.killpg(workers[0].pid, signal.SIGKILL)  # mid-stream, batches in flight
        workers[0].wait()

    def restart(workers: list[Any]) -> None:
        workers[0] = _start(group, f"{group}-a")  # same client id: its session's messages come back

    await _stream_through_fault(sensor, group, total, {total // 3: kill, 2 * total // 3: restart})


async def test_postgres_restart_mid_stream_stores_every_accepted_reading_once(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    """The project's PostgreSQL is restarted while a device keeps publishing: the workers keep the
    unacknowledged messages, retry once the database is back, and store each accepted reading once."""
    sensor = await devices.register("water_pressure_sensor", estate["id"], building="10栋")
    services = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "services")

    def restart_postgres(workers: list[Any]) -> Any:
        return asyncio.to_thread(subprocess.run, [services, "restart-postgres"], check=True, capture_output=True)

    await _stream_through_fault(sensor, f"pgfault-{uuid.uuid4().hex[:6]}", 2000, {666: restart_postgres})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    """A Mosquitto of this test's own (the shared one belongs to the main checkout and is not restarted)."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            ["mosquitto_ctrl", "dynsec", "init", f"{directory}/dynsec.json", "fault-admin", "fault-admin-pw"],
            check=True,
            capture_output=True,
        )
        plugin = next(
            p
            for p in (
                "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
                "/usr/lib/mosquitto_dynamic_security.so",
            )
            if os.path.exists(p)
        )
        with open(f"{directory}/mosquitto.conf", "w") as fh:
            fh.write(
                f"per_listener_settings false\nlistener {self.port} 127.0.0.1\nallow_anonymous false\n"
                f"plugin {plugin}\nplugin_opt_config_file {directory}/dynsec.json\npersistence true\n"
                f"persistence_location {directory}/\nautosave_interval 1\nmax_queued_messages 1000000\n"
                "max_inflight_messages 1000\nuser root\nlog_dest none\n"
            )

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", f"{self.dir}/mosquitto.conf"], start_new_session=True)

    async def start(self) -> None:
        import socket

        self._spawn()
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError("private broker did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Mosquitto saves sessions and queued messages
            self.proc.wait(timeout=10)

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            LINLI_MQTT_URL=f"mqtt://127.0.0.1:{self.port}",
            LINLI_MQTT_ADMIN_USER="fault-admin",
            LINLI_MQTT_ADMIN_PASSWORD="fault-admin-pw",
        )


async def test_broker_restart_mid_stream_stores_every_accepted_reading_once(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], tmp_path: Any
) -> None:
    import shutil

    assert shutil.which("mosquitto") and shutil.which("mosquitto_ctrl"), (
        "Mosquitto is missing: run scripts/bootstrap (apt-get install mosquitto mosquitto-clients)"
    )
    sensor = await devices.register("hydrant_monitor", estate["id"], building="6栋")
    private = PrivateBroker(str(tmp_path))
    await private.start()
    workers = [_start("g", f"restart-{n}", private.env()) for n in range(2)]
    acked: dict[int, bool] = {}
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="fault-publisher", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(broker.SERVICE_USER, broker.service_password())
    client.on_publish = lambda c, u, mid, reason, p: acked.__setitem__(mid, not reason.is_failure)
    client.reconnect_delay_set(1, 2)
    topic = sensor["credentials"]["telemetry_topic"]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    mids: dict[int, str] = {}
    try:
        for _ in range(100):  # the workers create the platform's MQTT client in the new broker
            try:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = 300
                client.connect("127.0.0.1", private.port, clean_start=False, properties=props)
                break
            except OSError:
                await asyncio.sleep(0.1)
        client.loop_start()
        probes = 0
        for n in range(150):  # wait until the shared group has members
            info = client.publish(
                topic,
                f'{{"ts":"{(t0 - timedelta(days=1, seconds=n)).isoformat()}","metrics":{{"pressure_mpa":0.5}}}}',
                qos=1,
            )
            await asyncio.sleep(0.2)
            probes = (await _count(sensor["id"]))[0]
            if probes:
                break
        await asyncio.sleep(1.0)
        probes = (await _count(sensor["id"]))[0]
        acked.clear()
        total = 1500
        for n in range(total):
            ts = (t0 + timedelta(milliseconds=n)).isoformat()
            info = client.publish(topic, f'{{"ts":"{ts}","metrics":{{"pressure_mpa":0.5}}}}', qos=1)
            mids[info.mid] = ts
            if n == total // 2:
                private.stop()
                await asyncio.sleep(0.5)
                await private.start()
            if n % 50 == 0:
                await asyncio.sleep(0.02)
        for _ in range(300):
            if len([m for m in mids if acked.get(m)]) >= total:
                break
            await asyncio.sleep(0.1)
        accepted = sum(1 for m in mids if acked.get(m))
        assert accepted >= total * 0.9  # (paho re-sends what was in flight after it reconnects)
        stored = (0, 0)
        for _ in range(300):
            stored = await _count(sensor["id"])
            if stored[0] >= probes + accepted:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stored = await _count(sensor["id"])
        assert stored[0] == stored[1], stored  # exactly once
        assert stored[0] >= probes + accepted, (stored, probes, accepted, total)  # every accepted reading
        assert accepted == total, (stored, probes, accepted, total)
    finally:
        client.disconnect()
        client.loop_stop()
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            w.wait(timeout=10)
        private.stop()
