"""HTTP ingest bodies: cut off at LINLI_BODY_LIMIT_INGEST_BYTES, read no further; refused where not served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.iot.conftest import Devices
from tests.platform.test_bodylimit import CHUNK, FIFTY_MB, Body, assert_too_large


async def test_a_streamed_50_mb_ingest_is_cut_off_at_the_limit(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("septic_tank_monitor", estate["id"], building="2栋", space="化粪池")
    body = Body(FIFTY_MB)  # chunked: the limit is found by counting
    response = await live.post(
        "/api/v1/ingest", content=body, headers={"x-device-token": sensor["credentials"]["token"]}
    )
    assert_too_large(response)
    assert 1024 * 1024 < body.consumed <= 1024 * 1024 + CHUNK


async def test_an_api_pod_without_the_worker_role_refuses_ingest_with_503(
    live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any], api_pod: Callable[[], None]
) -> None:
    """Ingest writes as the worker role, which only the ingest-http workload is given: elsewhere a clear
    503 in the error shape, not a 500."""
    sensor = await devices.register("septic_tank_monitor", estate["id"], building="2栋", space="化粪池")
    api_pod()
    token = {"x-device-token": sensor["credentials"]["token"]}
    response = await live.post("/api/v1/ingest", json={"metrics": {"level_pct": 40}}, headers=token)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "ingest_not_served_here"
