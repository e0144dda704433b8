"""Metric ids: a platform-wide dictionary no tenant can exhaust (issue 9, item 8)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from linli.iot.config import get_iot_settings
from tests.conftest import Login
from tests.iot.conftest import Devices
from tests.iot.test_device_types import gas_detector
from tests.tenants.support import node_by_name, scalar, superuser


def sequence_position() -> int:
    return int(scalar("select last_value from device_metrics_id_seq"))


def new_metric(prefix: str = "m") -> dict[str, Any]:
    return {"code": f"{prefix}_{uuid.uuid4().hex[:10]}", "kind": "gauge", "range": [0, 100]}


def test_metric_ids_are_integers_wherever_they_are_stored() -> None:
    with superuser() as conn:
        types = conn.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = "
            "'public' and ((table_name = 'device_metrics' and column_name = 'id') or column_name = 'metric_id') "
            "order by table_name"
        ).fetchall()
    assert types == [
        ("device_metrics", "id", "integer"),
        ("telemetry", "metric_id", "integer"),
        ("telemetry_1d", "metric_id", "integer"),
        ("telemetry_1h", "metric_id", "integer"),
        ("telemetry_latest", "metric_id", "integer"),
    ]


async def test_changing_a_type_spends_ids_only_on_codes_it_adds(live: httpx.AsyncClient) -> None:
    admin = await Login(live)("admin@luohu.demo")
    community, _ = node_by_name("木棉岭社区")
    body = gas_detector(community)
    created = await live.post("/api/v1/device-types", json=body, headers=admin)
    assert created.status_code == 201, created.text
    definition = {k: v for k, v in body.items() if k not in ("node_id", "code")}
    before = sequence_position()
    for _ in range(3):
        again = await live.put(f"/api/v1/device-types/{created.json()['id']}", json=definition, headers=admin)
        assert again.status_code == 200, again.text
    assert sequence_position() == before
    added = definition | {"metrics": [*body["metrics"], new_metric()]}
    type_url = f"/api/v1/device-types/{created.json()['id']}"
    assert (await live.put(type_url, json=added, headers=admin)).status_code == 200
    assert sequence_position() == before + 1


async def test_a_tenant_may_add_only_its_limit_of_new_metric_codes(
    live: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await Login(live)("admin@luohu.demo")
    community, _ = node_by_name("木棉岭社区")
    body = gas_detector(community)
    first = await live.post("/api/v1/device-types", json=body, headers=admin)
    assert first.status_code == 201, first.text
    tenant = first.json()["tenant_id"]
    introduced = int(scalar("select count(*) from device_metrics where tenant_id = %s", tenant))
    monkeypatch.setattr(get_iot_settings(), "iot_max_metrics_per_tenant", introduced + 1)
    over = [new_metric("over"), new_metric("over")]

    refused = await live.post(
        "/api/v1/device-types", json=gas_detector(community) | {"metrics": over, "rules": []}, headers=admin
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "metric_limit_exceeded", refused.text
    definition = {k: v for k, v in body.items() if k not in ("node_id", "code")}
    type_url = f"/api/v1/device-types/{first.json()['id']}"
    changed = await live.put(type_url, json=definition | {"metrics": [*body["metrics"], *over]}, headers=admin)
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "metric_limit_exceeded"
    codes = [m["code"] for m in over]
    assert scalar("select count(*) from device_metrics where code = any(%s)", codes) == 0
    stored = scalar("select spec from tenant_device_types where id = %s", first.json()["id"])
    assert stored["metrics"] == body["metrics"]
    # Codes already in the dictionary (the catalog's) cost nothing; one new code is within the limit.
    within = [{"code": "co_ppm", "kind": "gauge", "range": [0, 1000]}, over[0]]
    ok = await live.post(
        "/api/v1/device-types", json=gas_detector(community) | {"metrics": within, "rules": []}, headers=admin
    )
    assert ok.status_code == 201, ok.text
    assert scalar("select count(*) from device_metrics where tenant_id = %s", tenant) == introduced + 1


async def test_readings_of_metrics_with_ids_beyond_the_old_smallint_range_are_stored(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    with superuser() as conn:
        conn.execute("select setval('device_metrics_id_seq', greatest(40000, (select max(id) from device_metrics)))")
    community, _ = node_by_name("木棉岭社区")
    metric = new_metric("wide")
    body = gas_detector(community) | {"metrics": [metric], "rules": []}
    created = await live.post("/api/v1/device-types", json=body, headers=await Login(live)("admin@luohu.demo"))
    assert created.status_code == 201, created.text
    assert scalar("select id from device_metrics where code = %s", metric["code"]) > 32767
    sensor = await devices.register(body["code"], estate["id"], building="8栋")
    token = {"X-Device-Token": sensor["credentials"]["token"]}
    stored = await live.post("/api/v1/ingest", json={"metrics": {metric["code"]: 12.5}}, headers=token)
    assert stored.status_code == 202 and stored.json()["stored"] == 1, stored.text
    staff = await Login(live)("staff@mumianling.demo")
    points = await live.get(
        f"/api/v1/devices/{sensor['id']}/telemetry", params={"metric": metric["code"]}, headers=staff
    )
    assert [p["value"] for p in points.json()["points"]] == [12.5]
