"""`linli simulate`: realistic telemetry for a community's devices over MQTT, with injected faults
(a CO leak in a garage, a trapped elevator, septic gas), and simulated actuators that acknowledge
their commands. Publishes as the platform's service client, on each device's own topic."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import broker
from linli.iot.catalog import MetricSpec, RuleSpec, load_types
from linli.iot.devices import refresh_device_counts
from linli.iot.repository import DemoDeviceRepository
from linli.platform.broker import broker_address, new_client
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.security import new_secret, sha256_hex

DEMO_TYPES = (
    "smoke_detector",
    "co_sensor",
    "exhaust_fan",
    "septic_tank_monitor",
    "disinfection_unit",
    "elevator_monitor",
    "water_pressure_sensor",
    "hydrant_monitor",
    "water_leak_sensor",
    "manhole_cover_sensor",
    "charging_station",
    "energy_meter",
    "door_sensor",
    "smart_water_meter",
    "sos_band",
    "patrol_robot",
)
# Devices that must share a space for linkage (garage: CO + fan; septic room: monitor + fan + disinfection).
SPACES = {
    "co_sensor": "地下车库",
    "exhaust_fan": "地下车库",
    "septic_tank_monitor": "化粪池",
    "disinfection_unit": "化粪池",
}


async def seed_demo_devices(session: AsyncSession, scale: str) -> None:
    """DEMO_STEPS entry: a few devices per type in Mumianling's first estates (idempotent); at the full
    scale also the community's real volume (see `linli.iot.seed`)."""
    if scale == "full":
        await _seed_full_scale(session)
    repo = DemoDeviceRepository(session)
    estates = await repo.first_estates(community="木棉岭社区", limit=3 if scale == "small" else 12)
    rows = []
    for estate in estates:
        for type_code in DEMO_TYPES:
            per = 2 if type_code != "exhaust_fan" else 3
            for n in range(1, per + 1):
                space = SPACES.get(type_code, f"{n}号位")
                rows.append(
                    {
                        "tenant_id": estate.tenant_id,
                        "node_id": estate.id,
                        "path": estate.path,
                        "type": type_code,
                        "serial": f"SIM-{estate.code}-{type_code}-{n}",
                        "location": orjson.dumps(
                            {"building": "1栋", "unit": "1单元", "floor": "B1", "space": space}
                        ).decode(),
                        "token": sha256_hex(new_secret()),
                        "username": f"{estate.slug}.SIM-{estate.code}-{type_code}-{n}",
                    }
                )
    if rows:
        await repo.add(rows)
    await refresh_device_counts(session)


@dataclass
class SimDevice:
    id: int
    slug: str
    serial: str
    type_code: str
    metrics: dict[str, MetricSpec]
    rules: tuple[RuleSpec, ...] = ()
    counters: dict[str, float] = field(default_factory=dict)
    fault_until: float = 0.0
    fault: str = ""


def _daily(hour: float, low: float, high: float) -> float:
    return low + (high - low) * (0.5 + 0.5 * math.sin((hour - 8) / 24 * 2 * math.pi))


def normal_band(metric: MetricSpec, rules: tuple[RuleSpec, ...]) -> tuple[float, float]:
    """The part of the metric's range that triggers none of the type's rules."""
    low = metric.low if metric.low is not None else 0.0
    high = metric.high if metric.high is not None else 100.0
    lo, hi = low + (high - low) * 0.2, low + (high - low) * 0.4
    for rule in rules:
        if rule.metric != metric.code:
            continue
        if rule.above is not None:
            hi = min(hi, (rule.clear_below if rule.clear_below is not None else rule.above) * 0.7)
            lo = min(lo, hi * 0.5)
        if rule.below is not None:
            lo = max(lo, (rule.clear_above if rule.clear_above is not None else rule.below) * 1.3)
            hi = max(hi, lo * 1.2)
    return lo, min(hi, high)


def reading(d: SimDevice, now: datetime, clock: float) -> dict[str, float]:
    hour = now.hour + now.minute / 60
    faulty = clock < d.fault_until
    elapsed_h = (clock - d.counters.get("_clock", clock)) / 3600
    d.counters["_clock"] = clock
    out: dict[str, float] = {}
    for code, spec in d.metrics.items():
        kind = spec.kind
        if kind == "counter":
            # About 60 increments an hour: below every rate rule of the catalog.
            d.counters[code] = d.counters.get(code, 0.0) + elapsed_h * random.uniform(30, 90)
            out[code] = round(d.counters[code], 3)
        elif kind in ("flag", "state"):
            out[code] = 0
        else:
            lo, hi = normal_band(spec, d.rules)
            value = _daily(hour, lo, hi) + random.gauss(0, (hi - lo) * 0.02)
            out[code] = round(min(hi, max(lo, value)), 3)
    if d.type_code == "co_sensor":
        out["co_ppm"] = round(random.uniform(120, 180) if faulty else max(0.0, random.gauss(4, 1.5)), 1)
    elif d.type_code == "elevator_monitor":
        out["people_trapped"] = 1 if faulty else 0
        out["run_state"] = 2 if faulty else random.choice((0, 1))
    elif d.type_code == "septic_tank_monitor":
        out["ch4_lel_pct"] = round(random.uniform(25, 40) if faulty else random.uniform(1, 5), 1)
    elif d.type_code == "water_pressure_sensor":
        out["pressure_mpa"] = round(random.uniform(0.05, 0.1) if faulty else random.uniform(0.3, 0.45), 3)
    elif d.type_code == "charging_station":
        out["temp_c"] = round(random.uniform(75, 90) if faulty else random.uniform(25, 40), 1)
    elif d.type_code == "smoke_detector":
        out["smoke_alarm"] = 1 if faulty else 0
        out["battery_pct"] = round(random.uniform(60, 95), 1)
        out["signal_dbm"] = round(random.uniform(-100, -70), 1)
    elif d.type_code == "exhaust_fan":
        on = d.counters.get("_on", 0.0)
        out["power_on"] = on
        out["current_a"] = round(random.uniform(3, 5), 2) if on else 0.0
    return out


FAULTS = ("co_sensor", "elevator_monitor", "septic_tank_monitor", "charging_station", "water_pressure_sensor")


async def simulate(*, community: str, rate: float, duration: float, fault_every: float) -> None:
    async with scoped_session(SYSTEM_SCOPE) as session:
        repo = DemoDeviceRepository(session)
        found = await repo.community_path(community)
        if found is None:
            raise SystemExit(f"no community named {community}")
        rows = await repo.active_under(found)
        types = await load_types(session)
    if not rows:
        raise SystemExit("no devices: run `linli seed demo` first")
    devices = [
        SimDevice(r.id, r.slug, r.serial, r.type_code, spec.metrics, spec.rules)
        for r in rows
        if r.type_code != "ai_camera" and (spec := types.get(r.type_code, r.node_path)) is not None
    ]
    by_serial = {(d.slug, d.serial): d for d in devices}
    await broker.ensure_service_client()
    address = broker_address()
    client = new_client(
        f"linli-sim-{uuid.uuid4().hex[:8]}", username=broker.SERVICE_USER, password=broker.service_password()
    )
    connected = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        c.subscribe("linli/+/+/commands", qos=1)
        connected.set()

    def on_message(c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        # Simulated actuators obey and acknowledge.
        _, slug, serial, _ = message.topic.split("/")
        device = by_serial.get((slug, serial))
        try:
            body = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return
        if device is not None and body.get("command") == "set_power":
            device.counters["_on"] = 1.0 if body.get("args", {}).get("on") else 0.0
        c.publish(
            broker.topic(slug, serial, "acks"),
            orjson.dumps({"command_id": body.get("command_id"), "status": "ok"}),
            qos=1,
        )

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(address.host, address.port, keepalive=30)
    client.loop_start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    next_fault = start + min(10.0, fault_every)
    sent = 0
    interval = 1.0 / max(rate, 0.1)
    try:
        while duration <= 0 or loop.time() - start < duration:
            clock = loop.time()
            if clock >= next_fault:
                candidates = [d for d in devices if d.type_code in FAULTS]
                if candidates:
                    victim = random.choice(candidates)
                    victim.fault_until = clock + 120
                    print(f"fault injected: {victim.type_code} {victim.serial} for 120 s", flush=True)
                next_fault = clock + fault_every
            d = devices[sent % len(devices)]
            now = datetime.now(UTC)
            payload = {"ts": now.isoformat(), "metrics": reading(d, now, clock)}
            client.publish(broker.topic(d.slug, d.serial, "telemetry"), orjson.dumps(payload), qos=1)
            sent += 1
            if sent % max(1, int(rate * 10)) == 0:
                print(f"{sent} messages published", flush=True)
            await asyncio.sleep(max(0.0, start + sent * interval - loop.time()))
    finally:
        client.disconnect()
        client.loop_stop()


async def _seed_full_scale(session: AsyncSession) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from linli.iot.seed import FULL_SCALE_DEVICES, seed_full_scale_devices

    columns = (TextColumn("devices {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("木棉岭社区", total=sum(FULL_SCALE_DEVICES.values()))
        await seed_full_scale_devices(
            session, progress=lambda type_code, n: bar.update(task, advance=n, description=type_code)
        )
