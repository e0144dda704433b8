"""Tenants' own device types: defined through the API, validated on ingest, judged by their rules,
commanded by linkage, private to the tenant, changed and removed with an audit trail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from linli.iot import catalog
from linli.iot.ingest import IngestWriter, Message
from linli.iot.service import DeviceContext
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from tests.conftest import Login
from tests.iot.conftest import Devices, unique
from tests.tenants.support import node_by_name, superuser


def gas_detector(node_id: int, code: str | None = None) -> dict[str, Any]:
    """A confined-space multi-gas detector: the catalog has none."""
    return {
        "node_id": node_id,
        "code": code or f"gasdet_{uuid.uuid4().hex[:8]}",
        "name": {"zh": "有限空间四合一气体检测仪", "en": "Confined-space four-gas detector"},
        "interval_s": 30,
        "metrics": [
            {"code": "o2_pct", "kind": "gauge", "unit": "%VOL", "range": [0, 30]},
            {"code": "h2s_ppm", "kind": "gauge", "unit": "ppm", "range": [0, 200]},
        ],
        "rules": [
            {
                "code": "oxygen_low",
                "kind": "threshold",
                "metric": "o2_pct",
                "below": 19.5,
                "clear_above": 20.0,
                "hold_s": 10,
                "severity": "critical",
                "raises": "sf_confined_space_gas",
                "linkage": [{"target_type": "exhaust_fan", "command": "set_power", "args": {"on": True}}],
            }
        ],
    }


def iso(ts: datetime) -> str:
    return ts.isoformat()


async def test_a_tenant_type_registers_ingests_alarms_and_commands_like_a_catalog_one(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    login = Login(live)
    admin, staff = await login("admin@luohu.demo"), await login("staff@mumianling.demo")
    community, _ = node_by_name("木棉岭社区")
    body = gas_detector(community)
    assert (await live.post("/api/v1/device-types", json=body, headers=staff)).status_code == 403
    created = await live.post("/api/v1/device-types", json=body, headers=admin)
    assert created.status_code == 201, created.text
    kind = created.json()
    assert kind["source"] == "tenant" and kind["node_id"] == community and kind["rules"][0]["below"] == 19.5

    listed = await live.get("/api/v1/device-types", params={"node_id": estate["id"]}, headers=staff)
    codes = {t["code"]: t["source"] for t in listed.json()["items"]}
    assert codes[body["code"]] == "tenant" and codes["co_sensor"] == "catalog"

    space = unique("有限空间")
    detector = await devices.register(body["code"], estate["id"], building="5栋", space=space)
    fan = await devices.register("exhaust_fan", estate["id"], building="5栋", space=space)
    token = {"X-Device-Token": detector["credentials"]["token"]}
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

    async def send(offset_s: int, metrics: dict[str, Any]) -> httpx.Response:
        payload = {"ts": iso(t0 + timedelta(seconds=offset_s)), "metrics": metrics}
        return await live.post("/api/v1/ingest", json=payload, headers=token)

    assert (await send(0, {"o2_pct": 20.9, "h2s_ppm": 0.5})).status_code == 202
    refused = await send(5, {"o2_pct": 45, "co_ppm": 3})
    assert refused.status_code == 400
    assert sorted(e["reason"] for e in refused.json()["error"]["details"]) == ["out_of_range", "unknown_metric"]
    for offset in (10, 25):  # below 19.5 % for longer than the 10 s hold time
        assert (await send(offset, {"o2_pct": 18.2})).status_code == 202

    points = await live.get(f"/api/v1/devices/{detector['id']}/telemetry", params={"metric": "o2_pct"}, headers=staff)
    assert [p["value"] for p in points.json()["points"]] == [20.9, 18.2, 18.2]
    alarms = (await live.get("/api/v1/alarms", params={"device_id": detector["id"]}, headers=staff)).json()["items"]
    assert [(a["rule_code"], a["state"], a["event_item"]) for a in alarms] == [
        ("oxygen_low", "open", "sf_confined_space_gas")
    ]
    commands = (await live.get(f"/api/v1/devices/{fan['id']}/commands", headers=staff)).json()["items"]
    assert [(c["command"], c["args"], c["alarm_id"]) for c in commands] == [
        ("set_power", {"on": True}, alarms[0]["id"])
    ]
    assert (await send(40, {"o2_pct": 20.5})).status_code == 202
    after = (await live.get("/api/v1/alarms", params={"device_id": detector["id"]}, headers=staff)).json()["items"]
    assert [a["state"] for a in after] == ["cleared"]

    busy = await live.delete(f"/api/v1/device-types/{kind['id']}", headers=admin)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "device_type_in_use"


async def test_a_tenant_type_is_invisible_to_other_tenants_who_may_use_the_same_code(
    live: httpx.AsyncClient, estate: dict[str, Any]
) -> None:
    login = Login(live)
    mumianling, _ = node_by_name("木棉岭社区")
    nanhong, _ = node_by_name("南虹村社区")
    body = gas_detector(mumianling)
    created = await live.post("/api/v1/device-types", json=body, headers=await login("admin@luohu.demo"))
    assert created.status_code == 201, created.text
    other = await login("admin@wuhou.demo")
    assert (await live.get(f"/api/v1/device-types/{created.json()['id']}", headers=other)).status_code == 404
    put = await live.put(
        f"/api/v1/device-types/{created.json()['id']}",
        json={k: v for k, v in body.items() if k not in ("node_id", "code")},
        headers=other,
    )
    assert put.status_code == 404
    listed = await live.get("/api/v1/device-types", params={"source": "tenant"}, headers=other)
    assert body["code"] not in {t["code"] for t in listed.json()["items"]}
    register = await live.post(
        "/api/v1/devices", json={"type": body["code"], "serial": unique("GAS"), "node_id": nanhong}, headers=other
    )
    assert register.status_code == 400 and register.json()["error"]["code"] == "unknown_device_type"
    own = await live.post("/api/v1/device-types", json=gas_detector(nanhong, body["code"]), headers=other)
    assert own.status_code == 201, own.text
    assert (await live.delete(f"/api/v1/device-types/{own.json()['id']}", headers=other)).status_code == 204


async def test_definitions_are_checked_before_anything_is_stored(live: httpx.AsyncClient) -> None:
    admin = await Login(live)("admin@luohu.demo")
    community, _ = node_by_name("木棉岭社区")
    good = gas_detector(community)
    rule = good["rules"][0]
    cases: list[tuple[dict[str, Any], int, str]] = [
        (good | {"code": "co_sensor"}, 409, "device_type_exists"),
        (good | {"rules": [rule | {"metric": "co_ppm"}]}, 400, "unknown_metric"),
        (good | {"rules": [rule | {"raises": "no_such_item"}]}, 400, "unknown_event_item"),
        (good | {"rules": [rule | {"below": None}]}, 400, "bad_rule"),
        (good | {"rules": [rule | {"clear_above": 10}]}, 400, "bad_rule"),
        (
            good | {"rules": [rule | {"linkage": [{"target_type": "co_sensor", "command": "set_power"}]}]},
            400,
            "bad_linkage",
        ),
        (
            good
            | {
                "rules": [
                    rule | {"linkage": [{"target_type": "exhaust_fan", "command": "set_power", "args": {"x": 1}}]}
                ]
            },
            400,
            "bad_linkage",
        ),
        (good | {"metrics": good["metrics"] * 2}, 400, "bad_device_type"),
        (good | {"metrics": [{"code": "o2_pct", "range": [30, 0]}]}, 400, "bad_device_type"),
        (good | {"code": "Bad-Code"}, 422, "validation_error"),
        (good | {"metrics": []}, 422, "validation_error"),
    ]
    with superuser() as conn:
        before = conn.execute("select count(*) from tenant_device_types").fetchone()
    for body, status, code in cases:
        response = await live.post("/api/v1/device-types", json=body, headers=admin)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (body, response.text)
    with superuser() as conn:
        assert conn.execute("select count(*) from tenant_device_types").fetchone() == before


async def test_changing_and_removing_a_type_is_audited_and_inherited_readers_cannot_change_it(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    login = Login(live)
    admin, manager = await login("admin@luohu.demo"), await login("property@yuefeng.demo")
    community, _ = node_by_name("木棉岭社区")
    body = gas_detector(community)
    type_id = (await live.post("/api/v1/device-types", json=body, headers=admin)).json()["id"]
    # The estate's property manager reads the community's type but may not change it.
    seen = await live.get(f"/api/v1/device-types/{type_id}", headers=manager)
    assert seen.status_code == 200 and seen.json()["code"] == body["code"]
    definition = {k: v for k, v in body.items() if k not in ("node_id", "code")}
    assert (await live.put(f"/api/v1/device-types/{type_id}", json=definition, headers=manager)).status_code == 403

    changed = definition | {"metrics": [*body["metrics"], {"code": "lel_pct", "kind": "gauge", "range": [0, 100]}]}
    updated = await live.put(f"/api/v1/device-types/{type_id}", json=changed, headers=admin)
    assert updated.status_code == 200, updated.text
    assert [m["code"] for m in updated.json()["metrics"]] == ["o2_pct", "h2s_ppm", "lel_pct"]
    detector = await devices.register(body["code"], estate["id"], building="6栋")
    accepted = await live.post(
        "/api/v1/ingest",
        json={"metrics": {"lel_pct": 3.0}},
        headers={"X-Device-Token": detector["credentials"]["token"]},
    )
    assert accepted.status_code == 202 and accepted.json()["stored"] == 1

    spare = (await live.post("/api/v1/device-types", json=gas_detector(community), headers=admin)).json()["id"]
    assert (await live.delete(f"/api/v1/device-types/{spare}", headers=admin)).status_code == 204
    assert (await live.get(f"/api/v1/device-types/{spare}", headers=admin)).status_code == 404
    with superuser() as conn:
        actions = conn.execute(
            "select action from audit_log where object_type = 'device_type' and object_id in (%s, %s) order by id",
            (str(type_id), str(spare)),
        ).fetchall()
    assert [a[0] for a in actions] == [
        "device_type.create",
        "device_type.update",
        "device_type.create",
        "device_type.delete",
    ]


async def test_an_ingest_process_that_loaded_its_types_earlier_finds_a_new_type(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    """Another process learns of the type on its first unknown reading (not only after its cache time)."""
    writer = IngestWriter()
    async with scoped_session(SYSTEM_SCOPE) as session:
        await writer.refresh(session, force=True)
    community, _ = node_by_name("木棉岭社区")
    body = gas_detector(community)
    created = await live.post("/api/v1/device-types", json=body, headers=await Login(live)("admin@luohu.demo"))
    assert created.status_code == 201
    detector = await devices.register(body["code"], estate["id"], building="7栋")
    writer.generation = catalog.generation  # as in a process that heard nothing of the change
    writer.loaded_at -= 60
    device = DeviceContext(
        detector["id"],
        detector["tenant_id"],
        "mumianling",
        estate["id"],
        detector["node_path"],
        body["code"],
        detector["serial"],
        {},
    )
    result = await writer.write([Message(source="http", payload=b'{"metrics": {"o2_pct": 20.8}}', device=device)])
    assert (result.stored, result.dead) == (1, 0)
