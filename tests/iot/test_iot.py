from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from linli.iot import broker
from linli.iot.consumer import IngestConsumer
from tests.conftest import Login
from tests.iot.conftest import Devices, unique
from tests.iot.mqtt_device import MqttDevice, eventually

NOT_AUTHORIZED = 0x87


def iso(ts: datetime) -> str:
    return ts.isoformat()


async def test_device_publishes_only_on_its_own_topics(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], consumer: IngestConsumer
) -> None:
    a = await devices.register("co_sensor", estate["id"], building="1栋", space="车库")
    b = await devices.register("co_sensor", estate["id"], building="1栋", space="车库")
    assert set(a["credentials"]) >= {"token", "mqtt_username", "mqtt_password"}
    device = MqttDevice(a["credentials"])
    assert await device.connect()
    try:
        own = await device.publish(a["credentials"]["telemetry_topic"], {"metrics": {"co_ppm": 3.5}})
        assert own.value < 0x80
        other = await device.publish(b["credentials"]["telemetry_topic"], {"metrics": {"co_ppm": 999}})
        assert other.value == NOT_AUTHORIZED
        sub_own = await device.subscribe(a["credentials"]["commands_topic"])
        sub_other = await device.subscribe(b["credentials"]["commands_topic"])
        assert not sub_own[0].is_failure
        assert sub_other[0].value == NOT_AUTHORIZED
    finally:
        device.close()
    headers = await Login(live)("staff@mumianling.demo")

    async def latest(device_id: int) -> list[Any]:
        r = await live.get(f"/api/v1/devices/{device_id}/telemetry", params={"metric": "co_ppm"}, headers=headers)
        assert r.status_code == 200, r.text
        points: list[Any] = r.json()["points"]
        return points

    assert [p["value"] for p in await eventually(lambda: latest(a["id"]))] == [3.5]
    assert await latest(b["id"]) == []  # the refused publish stored nothing


async def test_readings_over_mqtt_and_http_appear_in_the_telemetry_api_once(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], consumer: IngestConsumer
) -> None:
    sensor = await devices.register("septic_tank_monitor", estate["id"], building="2栋", space="化粪池")
    headers = await Login(live)("staff@mumianling.demo")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    device = MqttDevice(sensor["credentials"])
    assert await device.connect()
    message = {"ts": iso(t0), "metrics": {"h2s_ppm": 1.5, "level_pct": 40}}
    try:
        for _ in range(2):  # a replay stores nothing twice
            await device.publish(sensor["credentials"]["telemetry_topic"], message)
    finally:
        device.close()
    token = {"X-Device-Token": sensor["credentials"]["token"]}
    r = await live.post(
        "/api/v1/ingest", json={"ts": iso(t0 + timedelta(minutes=1)), "metrics": {"h2s_ppm": 2.5}}, headers=token
    )
    assert r.status_code == 202, r.text
    assert r.json()["stored"] == 1
    for _ in range(2):  # no ts but an id: the first delivery's time holds, a replay stores nothing
        by_id = await live.post("/api/v1/ingest", json={"id": "m-1", "metrics": {"level_pct": 41}}, headers=token)
        assert by_id.status_code == 202, by_id.text
    assert by_id.json()["stored"] == 0
    again = await live.post(
        "/api/v1/ingest", json={"ts": iso(t0 + timedelta(minutes=1)), "metrics": {"h2s_ppm": 2.5}}, headers=token
    )
    assert again.json() | {"errors": []} == {"accepted": 1, "stored": 0, "dead_lettered": 0, "errors": []}

    async def points() -> list[Any]:
        r = await live.get(
            f"/api/v1/devices/{sensor['id']}/telemetry",
            params={"metric": "h2s_ppm", "from": iso(t0 - timedelta(minutes=1))},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["resolution"] == "raw"
        found: list[Any] = body["points"]
        return found if len(found) >= 2 else []

    found = await eventually(points)
    assert [(p["ts"][:19], p["value"]) for p in found] == [
        (iso(t0)[:19], 1.5),
        (iso(t0 + timedelta(minutes=1))[:19], 2.5),
    ]
    got = await live.get(f"/api/v1/devices/{sensor['id']}", headers=headers)
    assert got.json()["status"] == "online"


async def test_co_above_threshold_for_hold_time_opens_one_alarm_and_commands_the_fan(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], consumer: IngestConsumer
) -> None:
    space = unique("车库")
    co = await devices.register("co_sensor", estate["id"], building="3栋", unit="1单元", floor="B1", space=space)
    fan = await devices.register("exhaust_fan", estate["id"], building="3栋", unit="1单元", floor="B1", space=space)
    elsewhere = await devices.register(
        "exhaust_fan", estate["id"], building="3栋", unit="1单元", floor="B1", space="其他"
    )
    headers = await Login(live)("staff@mumianling.demo")
    fan_client = MqttDevice(fan["credentials"])
    assert await fan_client.connect()
    await fan_client.subscribe(fan["credentials"]["commands_topic"])
    token = {"X-Device-Token": co["credentials"]["token"]}
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

    async def send(offset_s: int, ppm: float) -> None:
        r = await live.post(
            "/api/v1/ingest",
            json={"ts": iso(t0 + timedelta(seconds=offset_s)), "metrics": {"co_ppm": ppm}},
            headers=token,
        )
        assert r.status_code == 202, r.text

    async def alarms(state: str | None = None) -> list[Any]:
        params: dict[str, Any] = {"device_id": co["id"]} | ({"state": state} if state else {})
        r = await live.get("/api/v1/alarms", params=params, headers=headers)
        assert r.status_code == 200, r.text
        items: list[Any] = r.json()["items"]
        return items

    try:
        await send(0, 60)
        await send(30, 75)  # above the limit, but not yet for the 60 s hold time
        assert await alarms() == []
        await send(61, 80)
        await send(90, 95)
        opened = await alarms()
        assert [(a["rule_code"], a["state"], a["event_item"]) for a in opened] == [("co_high", "open", "sf_co_high")]
        raised = await live.get("/api/v1/events", params={"item": "sf_co_high", "source": "iot_alarm"}, headers=headers)
        from_alarm = [e for e in raised.json()["items"] if e["location"].get("space") == space]
        assert len(from_alarm) == 1, raised.text
        assert from_alarm[0]["status"] == "dispatched" and from_alarm[0]["node_id"] == estate["id"]
        assert from_alarm[0]["handler"]["kind"] == "property" and from_alarm[0]["accept_by"] is not None
        commands = (await live.get(f"/api/v1/devices/{fan['id']}/commands", headers=headers)).json()["items"]
        assert [(c["command"], c["args"], c["alarm_id"]) for c in commands] == [
            ("set_power", {"on": True}, opened[0]["id"])
        ]
        other = (await live.get(f"/api/v1/devices/{elsewhere['id']}/commands", headers=headers)).json()["items"]
        assert other == []
        received = await eventually(lambda: _first(fan_client.messages))
        assert received[1]["command"] == "set_power" and received[1]["command_id"] == commands[0]["id"]
        await fan_client.publish(fan["credentials"]["acks_topic"], {"command_id": commands[0]["id"], "status": "ok"})

        async def acked() -> bool:
            r = await live.get(f"/api/v1/devices/{fan['id']}/commands", headers=headers)
            return bool(r.json()["items"][0]["status"] == "acked")

        assert await eventually(acked), (consumer.stats, consumer.queue, consumer.task_error)
        await send(120, 40)  # between clear (30) and trigger (50): hysteresis keeps it open
        assert [a["state"] for a in await alarms()] == ["open"]
        ack = await live.post(
            f"/api/v1/alarms/{opened[0]['id']}/acknowledge", json={"note": "on site"}, headers=headers
        )
        assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
        await send(150, 20)
        assert [a["state"] for a in await alarms()] == ["cleared"]
        detail = (await live.get(f"/api/v1/alarms/{opened[0]['id']}", headers=headers)).json()
        assert [h["action"] for h in detail["history"]] == ["opened", "linkage", "acknowledged", "cleared"]
    finally:
        fan_client.close()


async def _first(items: list[Any]) -> Any:
    return items[0] if items else None


async def test_bad_payloads_land_in_dead_letters_with_their_reason(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], consumer: IngestConsumer
) -> None:
    sensor = await devices.register("co_sensor", estate["id"], building="1栋")
    headers = await Login(live)("staff@mumianling.demo")
    token = {"X-Device-Token": sensor["credentials"]["token"]}
    bad = await live.post("/api/v1/ingest", content=b'{"metrics": {"co_ppm": 1', headers=token)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "malformed_json"
    mixed = await live.post(
        "/api/v1/ingest", json={"metrics": {"co_ppm": 5000, "humidity": 3, "co_ppm_ok": 1}}, headers=token
    )
    assert mixed.status_code == 400
    device = MqttDevice(sensor["credentials"])
    assert await device.connect()
    try:
        await device.publish(sensor["credentials"]["telemetry_topic"], b"not json at all")
    finally:
        device.close()
    # A message for a tenant nobody knows is kept (visible to no tenant) and does not block the stream.
    platform = MqttDevice({"mqtt_username": broker.SERVICE_USER, "mqtt_password": broker.service_password()})
    assert await platform.connect()
    try:
        await platform.publish("linli/no-such-tenant/X1/telemetry", {"metrics": {"co_ppm": 1}})
        await platform.publish(sensor["credentials"]["telemetry_topic"], {"metrics": {"co_ppm": 7.0}})
    finally:
        platform.close()

    async def stored() -> list[Any]:
        r = await live.get(f"/api/v1/devices/{sensor['id']}/telemetry", params={"metric": "co_ppm"}, headers=headers)
        points: list[Any] = r.json()["points"]
        return points

    assert [p["value"] for p in await eventually(stored)] == [7.0]

    async def reasons() -> list[tuple[str, str]]:
        r = await live.get("/api/v1/ingest/dead-letters", params={"device_id": sensor["id"]}, headers=headers)
        assert r.status_code == 200, r.text
        got = sorted((d["reason"], d["source"]) for d in r.json()["items"])
        return got if len(got) >= 5 else []

    assert await eventually(reasons) == [
        ("malformed_json", "http"),
        ("malformed_json", "mqtt"),
        ("out_of_range", "http"),
        ("unknown_metric", "http"),
        ("unknown_metric", "http"),
    ]
    # Another tenant sees none of them.
    other = await live.get(
        "/api/v1/ingest/dead-letters",
        params={"device_id": sensor["id"]},
        headers=await Login(live)("staff@nanhong.demo"),
    )
    assert other.json()["items"] == []


async def test_other_tenant_gets_404_and_revocation_removes_both_credentials(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("water_leak_sensor", estate["id"], building="1栋")
    login = Login(live)
    nanhong = await login("staff@nanhong.demo")
    assert (await live.get(f"/api/v1/devices/{sensor['id']}", headers=nanhong)).status_code == 404
    assert (await live.delete(f"/api/v1/devices/{sensor['id']}", headers=nanhong)).status_code == 404
    assert (
        await live.get(f"/api/v1/devices/{sensor['id']}/telemetry", params={"metric": "leak"}, headers=nanhong)
    ).status_code == 404
    listed = (await live.get("/api/v1/devices", params={"type": "water_leak_sensor"}, headers=nanhong)).json()
    assert all(d["id"] != sensor["id"] for d in listed["items"])
    staff = await login("staff@mumianling.demo")
    revoked = await live.delete(f"/api/v1/devices/{sensor['id']}", headers=staff)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    r = await live.post(
        "/api/v1/ingest", json={"metrics": {"leak": 0}}, headers={"X-Device-Token": sensor["credentials"]["token"]}
    )
    assert r.status_code == 401
    assert not await MqttDevice(sensor["credentials"]).connect()


async def test_devices_are_found_by_part_of_their_serial_in_any_case(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    wanted = await devices.register("water_leak_sensor", estate["id"], building="1栋")
    other = await devices.register("water_leak_sensor", estate["id"], building="1栋")
    login = Login(live)
    staff, nanhong = await login("staff@mumianling.demo"), await login("staff@nanhong.demo")
    part = wanted["serial"][-8:].upper()
    found = (await live.get("/api/v1/devices", params={"serial": part}, headers=staff)).json()["items"]
    assert [d["id"] for d in found] == [wanted["id"]]
    # LIKE's wildcards are taken literally: no serial has "%" in it.
    wild = (await live.get("/api/v1/devices", params={"serial": f"{other['serial'][:6]}%"}, headers=staff)).json()
    assert wild["items"] == []
    assert (await live.get("/api/v1/devices", params={"serial": part}, headers=nanhong)).json()["items"] == []


async def test_bulk_csv_reports_each_row(live: httpx.AsyncClient, estate: dict[str, Any], devices: Devices) -> None:
    headers = await Login(live)("staff@mumianling.demo")
    s1, s2 = unique("bulk"), unique("bulk")
    csv_text = (
        "type,serial,node_id,building,unit,floor,space\n"
        f"smoke_detector,{s1},{estate['id']},1栋,1单元,3,301\n"
        f"no_such_type,{unique('bulk')},{estate['id']},1栋,,,\n"
        f"smoke_detector,{s2},999999999,1栋,,,\n"
        f"smoke_detector,{s1},{estate['id']},1栋,,,\n"
        f"smoke_detector,bad serial!,{estate['id']},1栋,,,\n"
    )
    r = await live.post(
        "/api/v1/devices/bulk", content=csv_text.encode(), headers=headers | {"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    devices.usernames.extend(c["credentials"]["mqtt_username"] for c in body["created"])
    assert [c["serial"] for c in body["created"]] == [s1]
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (3, "unknown_device_type"),
        (4, "not_found"),
        (5, "duplicate_in_file"),
        (6, "invalid_row"),
    ]


async def test_long_ranges_read_incremental_rollups_including_late_data(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], api_pod: Callable[[], None]
) -> None:
    """Raw points, hourly and daily rollups, read by an API pod (without the worker role)."""
    from datetime import timedelta as td

    from linli.iot.jobs import rollup_dirty
    from linli.platform.db import SYSTEM_SCOPE, scoped_session

    meter = await devices.register("energy_meter", estate["id"], building="1栋")
    headers = await Login(live)("staff@mumianling.demo")
    token = {"X-Device-Token": meter["credentials"]["token"]}
    hour = (datetime.now(UTC) - td(days=5)).replace(minute=0, second=0, microsecond=0)
    readings = [{"ts": iso(hour + td(minutes=m)), "metrics": {"power_kw": v}} for m, v in ((5, 10), (35, 20))]
    r = await live.post(
        "/api/v1/ingest", json={"readings": [dict(x, serial=meter["serial"]) for x in readings]}, headers=token
    )
    assert r.json()["stored"] == 2
    async with scoped_session(SYSTEM_SCOPE) as session:
        assert await rollup_dirty(session, settle=td(0)) >= 1
    # A late reading for the same hour re-dirties it; the next run folds it in.
    late = await live.post(
        "/api/v1/ingest", json={"ts": iso(hour + td(minutes=50)), "metrics": {"power_kw": 60}}, headers=token
    )
    assert late.json()["stored"] == 1
    async with scoped_session(SYSTEM_SCOPE) as session:
        await rollup_dirty(session, settle=td(0))
    api_pod()
    params = {"metric": "power_kw", "from": iso(hour), "to": iso(hour + td(hours=1))}
    raw = (await live.get(f"/api/v1/devices/{meter['id']}/telemetry", params=params, headers=headers)).json()
    assert raw["resolution"] == "raw"
    assert [(p["value"], p["n"]) for p in raw["points"]] == [(10.0, None), (20.0, None), (60.0, None)]
    params = {"metric": "power_kw", "from": iso(hour - td(days=1)), "to": iso(hour + td(days=3))}
    body = (await live.get(f"/api/v1/devices/{meter['id']}/telemetry", params=params, headers=headers)).json()
    assert body["resolution"] == "1h"
    assert [(p["value"], p["min"], p["max"], p["n"]) for p in body["points"]] == [(30.0, 10.0, 60.0, 3)]
    params["to"] = iso(hour + td(days=90))
    daily = (await live.get(f"/api/v1/devices/{meter['id']}/telemetry", params=params, headers=headers)).json()
    assert daily["resolution"] == "1d" and [p["n"] for p in daily["points"]] == [3]


async def test_absence_opens_offline_alarm_and_next_reading_clears_it(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    from sqlalchemy import text

    from linli.iot.jobs import check_absence
    from linli.platform.db import SYSTEM_SCOPE, scoped_session

    detector = await devices.register("smoke_detector", estate["id"], building="5栋")
    headers = await Login(live)("staff@mumianling.demo")
    token = {"X-Device-Token": detector["credentials"]["token"]}
    async with scoped_session(SYSTEM_SCOPE) as session:
        await session.execute(
            text("update devices set last_seen_at = now() - interval '4 hours' where id = :d"), {"d": detector["id"]}
        )
        assert await check_absence(session) >= 1
    async with scoped_session(SYSTEM_SCOPE) as session:
        await check_absence(session)  # a second sweep opens nothing new
    r = await live.get("/api/v1/alarms", params={"device_id": detector["id"]}, headers=headers)
    assert [(a["rule_code"], a["state"]) for a in r.json()["items"]] == [("offline", "open")]
    sent = await live.post("/api/v1/ingest", json={"metrics": {"smoke_alarm": 0, "battery_pct": 80}}, headers=token)
    assert sent.status_code == 202, sent.text
    r = await live.get("/api/v1/alarms", params={"device_id": detector["id"]}, headers=headers)
    assert [(a["rule_code"], a["state"]) for a in r.json()["items"]] == [("offline", "cleared")]


async def test_unacknowledged_command_escalates_and_handlers_see_the_alarm(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    from sqlalchemy import text

    from linli.iot import service
    from linli.platform.db import SYSTEM_SCOPE, scoped_session

    seen: list[service.AlarmOpened] = []

    async def handler(session: Any, event: service.AlarmOpened) -> None:
        seen.append(event)

    service.ALARM_OPENED_HANDLERS.append(handler)
    try:
        space = unique("化粪池")
        monitor = await devices.register("septic_tank_monitor", estate["id"], building="7栋", space=space)
        fan = await devices.register("exhaust_fan", estate["id"], building="7栋", space=space)
        unit = await devices.register("disinfection_unit", estate["id"], building="7栋", space=space)
        token = {"X-Device-Token": monitor["credentials"]["token"]}
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        for offset in (0, 31):
            payload = {"ts": iso(t0 + timedelta(seconds=offset)), "metrics": {"ch4_lel_pct": 35}}
            assert (await live.post("/api/v1/ingest", json=payload, headers=token)).status_code == 202
    finally:
        service.ALARM_OPENED_HANDLERS.remove(handler)
    assert [(e.rule_code, e.event_item, e.device_id, e.location["space"]) for e in seen] == [
        ("gas_high", "ph_septic_abnormal", monitor["id"], space)
    ]
    headers = await Login(live)("staff@mumianling.demo")
    for target, command in ((fan, "set_power"), (unit, "run_cycle")):
        items = (await live.get(f"/api/v1/devices/{target['id']}/commands", headers=headers)).json()["items"]
        assert [c["command"] for c in items] == [command]
    async with scoped_session(SYSTEM_SCOPE) as session:
        overdue = await session.execute(
            text("update commands set ack_deadline = now() - interval '1 second' where alarm_id = :a returning id"),
            {"a": seen[0].alarm_id},
        )
        expired = [await service.expire_commands(session, command_id=cid) for (cid,) in overdue.all()]
        assert expired == [1, 1]
    alarm = (await live.get(f"/api/v1/alarms/{seen[0].alarm_id}", headers=headers)).json()
    assert alarm["escalation_level"] == 2
    assert [h["action"] for h in alarm["history"]].count("escalated") == 2
    items = (await live.get(f"/api/v1/devices/{fan['id']}/commands", headers=headers)).json()["items"]
    assert [c["status"] for c in items] == ["timeout"]


async def test_rule_override_at_an_estate_changes_the_threshold(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    login = Login(live)
    admin, staff, other = (
        await login("admin@luohu.demo"),
        await login("staff@mumianling.demo"),
        await login("admin@wuhou.demo"),
    )
    body = {"node_id": estate["id"], "type": "charging_station", "rule": "overheat", "params": {"above": 95}}
    assert (await live.put("/api/v1/rules", json=body, headers=staff)).status_code == 403
    assert (await live.put("/api/v1/rules", json=body, headers=other)).status_code == 404
    bad = await live.put("/api/v1/rules", json=body | {"params": {"metric": "x"}}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_rule_params"
    r = await live.put("/api/v1/rules", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["params"]["above"] == 95 and r.json()["overridden_at"] == [estate["node_path"]]
    listed = await live.get(
        "/api/v1/rules", params={"node_id": estate["id"], "type": "charging_station"}, headers=staff
    )
    assert [x["params"]["above"] for x in listed.json()["items"]] == [95]
    try:
        station = await devices.register("charging_station", estate["id"], building="8栋")
        token = {"X-Device-Token": station["credentials"]["token"]}
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        for offset in (0, 40):  # 80 °C: above the default 70, below this estate's 95
            payload = {"ts": iso(t0 + timedelta(seconds=offset)), "metrics": {"temp_c": 80}}
            assert (await live.post("/api/v1/ingest", json=payload, headers=token)).status_code == 202
        alarms = await live.get("/api/v1/alarms", params={"device_id": station["id"]}, headers=staff)
        assert alarms.json()["items"] == []
    finally:
        reset = await live.put("/api/v1/rules", json=body | {"params": {}}, headers=admin)
        assert reset.status_code == 200
