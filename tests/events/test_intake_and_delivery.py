"""Machine intake (AI video, IoT alarms), concurrent claims, notification delivery over real SMTP and
signed webhooks, and the onboarding defaults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import intake, lifecycle, notifications
from linli.events.config import get_events_settings
from linli.events.notifications import MAX_ATTEMPTS, webhook_signature
from linli.events.repositories import EventRepository
from linli.iot.service import AlarmOpened
from linli.platform.access import load_user_principal
from linli.platform.db import SYSTEM_SCOPE, apply_scopes, scoped_session, session_factory
from linli.platform.errors import Conflict
from linli.platform.security import hmac_sha256_hex
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.events.conftest import PNG, Places, system

RESIDENT = "13800000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def integration_key(
    client: httpx.AsyncClient, login: Login, node_id: int, source: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": f"key-{uuid.uuid4().hex[:6]}", "node_id": node_id, "roles": ["integration"], "source": source},
        headers=await login("admin@luohu.demo"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def signed(key: dict[str, Any], raw: bytes, *, at: datetime | None = None, secret: str | None = None) -> dict[str, str]:
    """Headers of a detection signed with the key's signing secret over `<timestamp>.<body>`."""
    timestamp = str(int((at or datetime.now(UTC)).timestamp()))
    signature = hmac_sha256_hex(secret or key["signing_secret"], timestamp.encode() + b"." + raw)
    return {"x-api-key": key["key"], "x-linli-timestamp": timestamp, "x-linli-signature": f"sha256={signature}"}


async def test_ai_detection_needs_a_valid_signature_and_is_idempotent(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    key = await integration_key(client, login, places.mumianling, source="ai_video")
    assert key["source"] == "ai_video" and key["signing_secret"]
    detection = {
        "detection_id": f"det-{uuid.uuid4()}",
        "type": "garbage_overflow",
        "confidence": 0.93,
        "node_id": places.yuefeng,
        "camera_id": "cam-12",
        "location": {"building": "2栋"},
        "snapshot": base64.b64encode(PNG).decode(),
    }
    raw = json.dumps(detection).encode()
    url = "/api/v1/events/ai-detections"
    unsigned = await client.post(url, content=raw, headers={"x-api-key": key["key"]})
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "bad_timestamp"
    forged = await client.post(url, content=raw, headers=signed(key, raw, secret="wrong"))
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_signature"
    # The secret the request carries (the API key's own) signs nothing.
    carried = await client.post(url, content=raw, headers=signed(key, raw, secret=key["key"].split("_", 2)[2]))
    assert carried.status_code == 401 and carried.json()["error"]["code"] == "bad_signature"

    headers = signed(key, raw)
    created = await client.post(url, content=raw, headers=headers)
    assert created.status_code == 201, created.text
    event = created.json()["event"]
    assert event["source"] == "ai_video" and event["item"] == "ca_garbage_overflow"
    assert event["external_ref"] == detection["detection_id"]
    assert event["handler"]["name"] == "悦峰尚府物业服务中心"
    # The same detection signed again later finds its event; the same signature again is a replay.
    resent = await client.post(url, content=raw, headers=signed(key, raw, at=datetime.now(UTC) + timedelta(seconds=1)))
    assert resent.status_code == 200 and resent.json()["status"] == "existing"
    assert resent.json()["event"]["id"] == event["id"]

    # Another camera sees the same overflow: merged; sending that detection again changes nothing.
    second = json.dumps(detection | {"detection_id": f"det-{uuid.uuid4()}", "camera_id": "cam-13"}).encode()
    merged = await client.post(url, content=second, headers=signed(key, second))
    assert merged.status_code == 200 and merged.json()["status"] == "merged"
    again = signed(key, second, at=datetime.now(UTC) - timedelta(seconds=1))
    resent = await client.post(url, content=second, headers=again)
    assert resent.json()["status"] == "existing" and resent.json()["event"]["id"] == event["id"]
    assert resent.json()["event"]["duplicate_count"] == 1

    staff = await login("staff@mumianling.demo")
    photos = (await client.get(f"/api/v1/events/{event['id']}/attachments", headers=staff)).json()["items"]
    assert len(photos) == 2 and {p["content_type"] for p in photos} == {"image/png"}  # one per camera

    low = json.dumps(detection | {"detection_id": "det-low", "confidence": 0.2}).encode()
    ignored = await client.post(url, content=low, headers=signed(key, low))
    assert ignored.status_code == 202 and ignored.json()["status"] == "ignored"

    hotline_key = await integration_key(client, login, places.mumianling, source="hotline")
    assert hotline_key["signing_secret"] is None
    hotline = await client.post(
        "/api/v1/events",
        json={"item": "po_noise_disturbance", "node_id": places.yuefeng, "external_ref": "12345-1"},
        headers={"x-api-key": hotline_key["key"]},
    )
    assert hotline.status_code == 201 and hotline.json()["source"] == "hotline"
    assert hotline.json()["handler"]["kind"] == "urban_mgmt"


async def test_ai_detections_outside_five_minutes_or_replayed_are_refused(
    client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    key = await integration_key(client, login, places.mumianling, source="ai_video")
    url = "/api/v1/events/ai-detections"
    raw = json.dumps(
        {"detection_id": f"det-{uuid.uuid4()}", "type": "illegal_parking", "confidence": 0.9, "node_id": places.yuefeng}
    ).encode()
    for off in (timedelta(minutes=6), -timedelta(minutes=6)):
        stale = await client.post(url, content=raw, headers=signed(key, raw, at=datetime.now(UTC) + off))
        assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale_timestamp"
    headers = signed(key, raw, at=datetime.now(UTC) - timedelta(minutes=4))
    first = await client.post(url, content=raw, headers=headers)
    assert first.status_code == 201, first.text
    replayed = await client.post(url, content=raw, headers=headers)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "replayed_signature"
    # Only keys created for AI video send detections.
    other = await integration_key(client, login, places.mumianling, source="robot")
    refused = await client.post(url, content=raw, headers={**headers, "x-api-key": other["key"]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "api_key_required"


async def test_alarm_opened_handler_creates_one_dispatched_event(db: AsyncSession, places: Places) -> None:
    alarm = AlarmOpened(
        alarm_id=987654,
        device_id=4242,
        tenant_id=0,
        node_id=places.yuefeng,
        node_path=places.yuefeng_path,
        location={"building": "1栋", "unit": "2单元", "floor": "12"},
        rule_code="smoke_detected",
        event_item="sf_smoke_alarm",
        severity="critical",
        value=1.0,
        ts=datetime.now(UTC),
    )
    await system(db)
    await intake.on_alarm_opened(db, alarm)
    await intake.on_alarm_opened(db, alarm)  # a replayed alarm creates nothing more
    count = await db.scalar(text("select count(*) from events where external_ref = 'alarm:987654'"))
    assert count == 1
    event = await EventRepository(db).by_external_ref(
        tenant_id=await EventRepository(db).tenant_for_path(places.yuefeng_path),
        source="iot_alarm",
        raised_by="system",
        external_ref="alarm:987654",
    )
    assert event is not None
    assert event.status == "dispatched" and event.handler_kind == "fire"
    assert event.location == {"building": "1栋", "unit": "2单元", "floor": "12"}
    assert event.accept_by is not None and event.accept_by - event.created_at == timedelta(minutes=2)
    # A rule pointing at an item that does not exist raises no event and does not break the caller.
    await intake.on_alarm_opened(db, dataclasses.replace(alarm, alarm_id=987655, event_item="no_such_item"))
    assert await db.scalar(text("select count(*) from events where external_ref = 'alarm:987655'")) == 0


async def test_two_concurrent_accepts_exactly_one_wins(db: AsyncSession, places: Places) -> None:
    """Needs committed data: two separate API-role sessions race for the row lock."""
    marker = f"race-{uuid.uuid4().hex[:8]}"
    async with scoped_session(SYSTEM_SCOPE) as s:
        event, _ = await intake.create_event(
            s,
            actor=None,
            actor_label="test",
            intake=intake.Intake(
                item_code="ph_public_facility", node_id=places.yuefeng, source="staff_patrol", location={"unit": marker}
            ),
        )
        event_id = event.id
        user_id = await s.scalar(text("select id from users where email = 'property@yuefeng.demo'"))
    try:

        async def claim() -> str:
            async with session_factory("api")() as s:
                principal = await load_user_principal(s, user_id)
                await apply_scopes(s, principal.scopes)
                try:
                    await lifecycle.transition(s, actor=principal, event_id=event_id, action="accept")
                    await s.commit()
                    return "won"
                except Conflict:
                    await s.rollback()
                    return "conflict"

        results = await asyncio.gather(claim(), claim(), claim())
        assert sorted(results) == ["conflict", "conflict", "won"]
        async with scoped_session(SYSTEM_SCOPE) as s:
            accepts = await s.scalar(
                text("select count(*) from event_timeline where event_id = :e and action = 'accept'"), {"e": event_id}
            )
            assert accepts == 1
    finally:
        async with scoped_session(SYSTEM_SCOPE) as s:
            await s.execute(text("delete from events where id = :e"), {"e": event_id})


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("LINLI_SMTP_PORT", str(port))
    monkeypatch.setenv("LINLI_SMTP_FROM", "noreply@linli.test")
    get_events_settings.cache_clear()
    yield controller, inbox
    with contextlib.suppress(AssertionError):  # already stopped by the test
        controller.stop()


async def test_email_notifications_are_sent_over_smtp_and_retried(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession, smtp: tuple[Controller, Inbox]
) -> None:
    controller, inbox = smtp
    handler = await login("property@yuefeng.demo")
    pref = await client.put(
        "/api/v1/notification-preferences", json={"channel": "email", "enabled": True}, headers=handler
    )
    assert pref.status_code == 200
    assert {"channel": "email", "enabled": True, "min_severity": "low"} in pref.json()
    resident = await login(RESIDENT)
    event = (
        await client.post(
            "/api/v1/events",
            json={"item": "ph_elevator_fault", "node_id": places.yuefeng, "location": {"building": "3栋"}},
            headers=resident,
        )
    ).json()
    assert event["handler"]["kind"] == "maintenance"  # the lift contractor, not the property company
    event = (
        await client.post(
            "/api/v1/events",
            json={"item": "ph_water_leak", "node_id": places.yuefeng, "location": {"building": "3栋"}},
            headers=resident,
        )
    ).json()
    await system(db)
    delivered, failed = await notifications.deliver_pending(db)
    assert (delivered, failed) == (1, 0)
    assert len(inbox.messages) == 1
    envelope = inbox.messages[0]
    assert envelope.rcpt_tos == ["property@yuefeng.demo"]
    message = message_from_bytes(envelope.content)
    assert "管道漏水" in str(make_header(decode_header(message["Subject"])))
    state = (
        await db.execute(
            text("select state, attempts from notifications where event_id = :e and channel = 'email'"),
            {"e": event["id"]},
        )
    ).one()
    assert tuple(state) == ("delivered", 1)

    controller.stop()
    second = (
        await client.post(
            "/api/v1/events",
            json={"item": "ph_water_leak", "node_id": places.yuefeng, "location": {"building": "4栋"}},
            headers=resident,
        )
    ).json()
    await system(db)
    assert await notifications.deliver_pending(db) == (0, 1)
    row = (
        await db.execute(
            text("select state, attempts, last_error from notifications where event_id = :e and channel = 'email'"),
            {"e": second["id"]},
        )
    ).one()
    assert row.state == "pending" and row.attempts == 1 and row.last_error.startswith("smtp")
    # Not due again yet (backoff); after enough retries it is marked failed.
    assert await notifications.deliver_pending(db) == (0, 0)
    later = datetime.now(UTC)
    for _ in range(MAX_ATTEMPTS - 1):
        later += timedelta(hours=1)
        await notifications.deliver_pending(db, now=later)
    final = await db.scalar(
        text("select state from notifications where event_id = :e and channel = 'email'"), {"e": second["id"]}
    )
    assert final == "failed"


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def allow_webhooks_to(monkeypatch: pytest.MonkeyPatch, networks: str) -> None:
    """Webhooks to loopback are refused unless an operator opens it (tests deliver to a local server)."""
    monkeypatch.setenv("LINLI_WEBHOOK_ALLOW_NETWORKS", networks)
    get_events_settings.cache_clear()


async def test_webhooks_are_signed(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_webhooks_to(monkeypatch, "127.0.0.1/32")
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received.clear()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/linli"
        created = await client.post(
            "/api/v1/webhooks", json={"node_id": places.mumianling, "url": url}, headers=await login("admin@luohu.demo")
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        event = (
            await client.post(
                "/api/v1/events",
                json={"item": "ph_power_outage", "node_id": places.yuefeng, "location": {"building": "7栋"}},
                headers=await login(RESIDENT),
            )
        ).json()
        await system(db)
        assert await notifications.deliver_pending(db) == (1, 0)
        headers, body = _Hook.received[0]
        assert json.loads(body)["event_id"] == event["id"]
        assert headers["x-linli-signature"] == webhook_signature(secret, headers["x-linli-timestamp"], body)
        await apply_scopes(db, ())
        admin = await login("admin@luohu.demo")
        deliveries = await client.get(f"/api/v1/webhooks/{created.json()['id']}/deliveries", headers=admin)
        assert deliveries.status_code == 200, deliveries.text
        sent = deliveries.json()["items"]
        assert [(d["event_id"], d["state"], d["attempts"]) for d in sent] == [(event["id"], "delivered", 1)]
        hidden = await client.get(
            f"/api/v1/webhooks/{created.json()['id']}/deliveries", headers=await login("admin@wuhou.demo")
        )
        assert hidden.status_code == 404  # another district's endpoint: as if it did not exist
    finally:
        server.shutdown()


async def test_webhooks_are_listed_without_secrets_and_retired_endpoints_get_nothing(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_webhooks_to(monkeypatch, "127.0.0.1/32")
    admin = await login("admin@luohu.demo")
    url = "http://127.0.0.1:9/retired"
    created = await client.post("/api/v1/webhooks", json={"node_id": places.mumianling, "url": url}, headers=admin)
    hook = created.json()["id"]
    listed = await client.get("/api/v1/webhooks", params={"node_id": places.mumianling}, headers=admin)
    assert [(w["id"], w["url"], w["active"]) for w in listed.json()["items"]] == [(hook, url, True)]
    assert "secret" not in listed.json()["items"][0]
    assert (await client.delete(f"/api/v1/webhooks/{hook}", headers=await login("admin@wuhou.demo"))).status_code == 404
    assert (await client.delete(f"/api/v1/webhooks/{hook}", headers=admin)).status_code == 204
    assert (await client.delete(f"/api/v1/webhooks/{hook}", headers=admin)).status_code == 204  # already retired
    active = await client.get("/api/v1/webhooks", params={"node_id": places.mumianling, "active": True}, headers=admin)
    assert active.json()["items"] == []
    await client.post(
        "/api/v1/events",
        json={"item": "ph_power_outage", "node_id": places.yuefeng, "location": {"building": "8栋"}},
        headers=await login(RESIDENT),
    )
    await system(db)
    pending = await db.execute(
        text("select count(*) from notifications where channel = 'webhook' and address = :u"), {"u": url}
    )
    assert pending.scalar_one() == 0
    actions = await db.execute(
        text("select action from audit_log where object_type = 'webhook_endpoint' and object_id = :i order by id"),
        {"i": str(hook)},
    )
    assert actions.scalars().all() == ["webhook.create", "webhook.retire"]


async def test_onboarding_a_tenant_creates_its_default_units(client: httpx.AsyncClient, login: Login) -> None:
    admin = await login("admin@wuhou.demo")
    communities = await client.get("/api/v1/nodes", params={"level": "community", "limit": 100}, headers=admin)
    taken = {"南虹村社区"}
    community = next(n for n in communities.json()["items"] if n["name"] not in taken)
    onboarded = await client.post(
        "/api/v1/tenants",
        json={"node_id": community["id"], "slug": "events-test-tenant", "admin_email": "events-admin@example.org"},
        headers=admin,
    )
    assert onboarded.status_code == 201, onboarded.text
    units = await client.get("/api/v1/handler-units", params={"node_id": community["id"], "limit": 200}, headers=admin)
    kinds = {u["kind"] for u in units.json()["items"]}
    assert {"community_staff", "mediation", "grid_worker", "police", "fire", "urban_mgmt"} <= kinds


async def test_deadline_job_escalates_once_and_is_registered_with_the_worker(places: Places) -> None:
    """The arq job itself (worker role, system scope, committed data), run twice: one escalation."""
    from linli.events.jobs import events_fire_deadline
    from linli.platform.jobs import WorkerSettings

    names = {f.__name__ for f in WorkerSettings.functions}
    assert {"events_fire_deadline", "events_sweep_deadlines", "events_deliver_notifications"} <= names
    assert {c.name for c in WorkerSettings.cron_jobs} >= {"cron:events_sweep_deadlines"}

    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    async with scoped_session(SYSTEM_SCOPE) as s:
        event, _ = await intake.create_event(
            s,
            actor=None,
            actor_label="test",
            intake=intake.Intake(
                item_code="po_person_fall",
                node_id=places.yuefeng,
                source="robot",
                location={"unit": f"job-{uuid.uuid4().hex[:8]}"},
            ),
            now=long_ago,
        )
        event_id = event.id
        deadline_id = await s.scalar(
            text("select id from event_deadlines where event_id = :e and kind = 'accept'"), {"e": event_id}
        )
    try:
        assert await events_fire_deadline({}, deadline_id) is True
        assert await events_fire_deadline({}, deadline_id) is False
        async with scoped_session(SYSTEM_SCOPE) as s:
            row = (
                await s.execute(text("select escalation_level, status from events where id = :e"), {"e": event_id})
            ).one()
            assert tuple(row) == (1, "dispatched")
            outcome = await s.scalar(text("select outcome from event_deadlines where id = :d"), {"d": deadline_id})
            assert outcome == "escalated"
    finally:
        async with scoped_session(SYSTEM_SCOPE) as s:
            await s.execute(text("delete from events where id = :e"), {"e": event_id})


async def test_suspended_tenant_is_read_only_for_events(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession
) -> None:
    await system(db)
    await db.execute(text("update tenants set status = 'suspended' where slug = 'mumianling'"))
    refused = await client.post(
        "/api/v1/events",
        json={"item": "ph_repair_request", "node_id": places.yuefeng, "location": {"building": "1栋"}},
        headers=await login(RESIDENT),
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_read_only"


async def test_a_suspended_tenant_takes_no_rating_and_no_routing_rule(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession
) -> None:
    """Every write goes through `access_object`, so rating and routing are refused like any other write."""
    resident, admin = await login(RESIDENT), await login("admin@luohu.demo")
    event = await client.post(
        "/api/v1/events",
        json={"item": "ph_repair_request", "node_id": places.yuefeng, "location": {"building": "1栋"}},
        headers=resident,
    )
    assert event.status_code == 201, event.text
    units = await client.get("/api/v1/handler-units", params={"node_id": places.mumianling}, headers=admin)
    rule = {
        "node_id": places.yuefeng,
        "item": "ca_streetlight_fault",
        "handler_unit_id": units.json()["items"][0]["id"],
    }
    writes = [
        (f"/api/v1/events/{event.json()['id']}/rating", {"score": 1}, resident),
        ("/api/v1/routing-rules", rule, admin),
    ]
    for url, body, headers in writes:
        # Suspended again each time: a refused request rolls the test's transaction back to before it.
        await system(db)
        await db.execute(text("update tenants set status = 'suspended' where slug = 'mumianling'"))
        refused = await client.post(url, json=body, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_read_only", refused.text


async def test_each_deadline_is_enqueued_as_a_deferred_job_after_commit(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linli.platform.jobs import pool

    monkeypatch.setenv("LINLI_EVENTS_ENQUEUE_JOBS", "1")
    get_events_settings.cache_clear()
    created = await client.post(
        "/api/v1/events",
        json={"item": "pb_deliberation", "node_id": places.yuefeng, "location": {"building": "8栋"}},
        headers=await login(RESIDENT),
    )
    assert created.status_code == 201
    await system(db)
    rows = (
        await db.execute(
            text("select id, due_at from event_deadlines where event_id = :e order by id"), {"e": created.json()["id"]}
        )
    ).all()
    assert len(rows) == 2
    redis = await pool()
    try:
        for deadline_id, due_at in rows:
            job_id = f"events-deadline-{deadline_id}"
            score = await redis.zscore("arq:queue", job_id)
            assert score is not None, job_id
            assert abs(score / 1000 - due_at.timestamp()) < 1  # deferred until the due time
    finally:
        for deadline_id, _ in rows:
            job_id = f"events-deadline-{deadline_id}"
            await redis.zrem("arq:queue", job_id)
            await redis.delete(f"arq:job:{job_id}")


async def test_sms_goes_through_the_gateway_and_big_photos_are_refused(
    client: httpx.AsyncClient, login: Login, places: Places, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    monkeypatch.setenv("LINLI_SMS_GATEWAY_URL", f"http://127.0.0.1:{server.server_address[1]}/sms")
    monkeypatch.setenv("LINLI_EVENTS_MAX_ATTACHMENT_BYTES", "1000")
    get_events_settings.cache_clear()
    get_settings.cache_clear()
    try:
        resident, handler = await login(RESIDENT), await login("property@yuefeng.demo")
        on = await client.put(
            "/api/v1/notification-preferences", json={"channel": "sms", "enabled": True}, headers=resident
        )
        assert on.status_code == 200
        event = (
            await client.post(
                "/api/v1/events",
                json={"item": "ph_repair_request", "node_id": places.yuefeng, "location": {"building": "9栋"}},
                headers=resident,
            )
        ).json()
        url = f"/api/v1/events/{event['id']}"
        assert (await client.post(f"{url}/transitions", json={"action": "accept"}, headers=handler)).status_code == 200
        await system(db)
        assert await notifications.deliver_pending(db) == (1, 0)
        _, body = _Hook.received[0]
        assert json.loads(body)["phone"] == RESIDENT

        big = await client.post(
            f"{url}/attachments", files={"file": ("big.png", PNG + bytes(2000), "image/png")}, headers=handler
        )
        assert big.status_code == 413 and big.json()["error"]["code"] == "attachment_too_large"
    finally:
        server.shutdown()
        monkeypatch.delenv("LINLI_EVENTS_MAX_ATTACHMENT_BYTES")
        get_settings.cache_clear()
