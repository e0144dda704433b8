"""The batch writer: binary COPY straight into the hypertable, and the fallback that stores only what
is new when a batch repeats readings already stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from linli.iot.ingest import IngestWriter, Message
from linli.iot.service import DeviceContext
from tests.conftest import Login
from tests.iot.conftest import Devices
from tests.tenants.support import superuser


def context(created: dict[str, Any]) -> DeviceContext:
    return DeviceContext(
        created["id"],
        created["tenant_id"],
        "mumianling",
        created["node_id"],
        created["node_path"],
        created["type"],
        created["serial"],
        created["location"],
    )


async def test_a_batch_repeating_stored_readings_stores_only_the_new_ones_exactly(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("septic_tank_monitor", estate["id"], building="9栋")
    device = context(sensor)
    t0 = datetime.now(UTC).replace(microsecond=123456) - timedelta(minutes=20)

    def message(at: datetime, h2s: float) -> Message:
        body = {"ts": at.isoformat(), "metrics": {"h2s_ppm": h2s, "level_pct": 41.25}}
        return Message(source="http", payload=orjson.dumps(body), device=device)

    writer = IngestWriter()
    first = await writer.write([message(t0, 1.125)])
    assert (first.accepted, first.stored) == (2, 2)
    # A redelivery of the first message beside a new one: the direct COPY meets the unique index and
    # the batch is written again through the staging table.
    again = await writer.write([message(t0, 1.125), message(t0 + timedelta(seconds=30), 2.5)])
    assert (again.accepted, again.stored, again.dead) == (4, 2, 0)

    headers = await Login(live)("staff@mumianling.demo")
    response = await live.get(
        f"/api/v1/devices/{sensor['id']}/telemetry", params={"metric": "h2s_ppm"}, headers=headers
    )
    points = [(datetime.fromisoformat(p["ts"]), p["value"]) for p in response.json()["points"]]
    assert points == [(t0, 1.125), (t0 + timedelta(seconds=30), 2.5)]
    shown = await live.get(f"/api/v1/devices/{sensor['id']}", headers=headers)
    assert shown.json()["status"] == "online"
    with superuser() as conn:
        latest = conn.execute(
            "select m.code, l.ts, l.value from telemetry_latest l join device_metrics m on m.id = l.metric_id "
            "where l.device_id = %s order by m.code",
            (sensor["id"],),
        ).fetchall()
    assert latest == [("h2s_ppm", t0 + timedelta(seconds=30), 2.5), ("level_pct", t0 + timedelta(seconds=30), 41.25)]
