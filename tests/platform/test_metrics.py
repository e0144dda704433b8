"""What `/metrics` carries after a minute of activity (the chart's alert rules and dashboard are checked
against these series in tests/helm/test_chart_render.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import deadlines
from linli.iot.ingest import IngestWriter, Message
from linli.platform import metrics  # noqa: F401  (defines every series on the registry)
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.events.conftest import system
from tests.iot.conftest import Devices, devices, estate, live, live_login  # noqa: F401  (fixtures)

TOKEN = "scrape-token"


async def scrape(app: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await app.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def test_metrics_carry_ingest_dispatch_and_api_series_after_a_minute(
    live: httpx.AsyncClient,  # noqa: F811
    live_login: Login,  # noqa: F811
    devices: Devices,  # noqa: F811
    estate: dict[str, Any],  # noqa: F811
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "metrics_token", TOKEN)
    before = await scrape(live)

    # A minute of telemetry from one sensor, one reading every ten seconds, and one refused reading.
    sensor = await devices.register("co_sensor", estate["id"], building="3栋")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    writer = IngestWriter()
    for second in range(0, 60, 10):
        body = {"ts": (start + timedelta(seconds=second)).isoformat(), "metrics": {"co_ppm": 3.0 + second / 10}}
        message = Message(
            source="mqtt",
            payload=orjson.dumps(body),
            topic=sensor["credentials"]["telemetry_topic"],
            slug="mumianling",
            serial=sensor["serial"],
        )
        assert (await writer.write([message])).stored == 1
    refused = Message(source="http", payload=b'{"metrics": {"no_such_metric": 1}}', device=None)
    refused_result = await writer.write([refused])
    assert refused_result.dead == 1
    reason = refused_result.errors[0]["reason"]

    # An event raised by a resident, its accept deadline missed (swept in the test's rolled-back session).
    body = {"item": "ph_repair_request", "description": "metrics test", "node_id": estate["id"], "location": {}}
    created = await live.post("/api/v1/events", json=body, headers=await live_login("13800000001"))
    assert created.status_code == 201, created.text
    event = created.json()
    staff = await live_login("staff@mumianling.demo")
    assert (await live.get(f"/api/v1/events/{event['id']}", headers=staff)).status_code == 200
    assert (await live.get("/api/v1/events/999999", headers=staff)).status_code in (404, 422)
    await system(db)
    assert await deadlines.sweep_deadlines(db, now=datetime.fromisoformat(event["accept_by"]) + timedelta(seconds=1))

    after = await scrape(live)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("linli_ingest_messages_total", source="mqtt") == 6
    assert grew("linli_ingest_readings_stored_total") == 6
    assert grew("linli_ingest_dead_letters_total", reason=reason) == 1
    assert grew("linli_ingest_batch_duration_seconds_count") == 7
    assert total(after, "linli_ingest_lag_seconds") >= 0 and total(after, "linli_ingest_last_batch_timestamp_seconds")
    assert grew("linli_events_created_total", source="resident_report") == 1
    assert grew("linli_deadlines_missed_total", kind="accept") >= 1
    assert grew("linli_event_escalations_total") >= 1
    assert ("linli_job_queue_depth", (("state", "due"),)) in after
    # API latency by route template, never by the raw path of an object.
    route = "/api/v1/events/{event_id}"
    assert grew("linli_http_request_duration_seconds_count", method="GET", route=route, status_class="2xx") == 1
    assert grew("linli_http_errors_total", code="not_found") + grew("linli_http_errors_total", code="validation_error")
    routes = {value for (_, labels), _ in after.items() for name, value in labels if name == "route"}
    assert route in routes
    assert not [r for r in routes if event["id"] in r or "999999" in r or re.search(r"/\d+(/|$)", r)]
