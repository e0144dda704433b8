"""A known device's oversized HTTP ingest body is cut off at LINLI_BODY_LIMIT_INGEST_BYTES, read no further."""

from __future__ import annotations

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
