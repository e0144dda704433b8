"""The HTTP broker-auth backend (issue 16, item 2): EMQX's HTTP authentication/authorization and VerneMQ's
webhooks ask Linli who may connect and which topics a client may use. The brokers cannot run here, so
the endpoints are called with the request bodies those brokers document and the answers are checked
against the formats they expect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from linli.iot import broker
from linli.iot.brokerauth import service
from linli.iot.config import get_iot_settings
from linli.platform.security import sha256_hex
from tests.iot.conftest import Devices
from tests.iot.test_gateways_and_suspension import other_tenants_device
from tests.tenants.support import superuser

SECRET = "broker-shared-secret-for-tests"
EMQX = "/api/v1/mqtt-auth/emqx"
VERNE = "/api/v1/mqtt-auth/vernemq"
AS_BROKER = {"X-Linli-Broker-Secret": SECRET}


@pytest.fixture
def http_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(get_iot_settings(), "mqtt_auth_backend", "http")
    monkeypatch.setattr(get_iot_settings(), "mqtt_auth_secret", SECRET)
    service.logins.clear()
    yield
    service.logins.clear()


async def emqx_login(live: httpx.AsyncClient, username: str, password: str) -> str:
    body = {"username": username, "password": password, "clientid": f"c-{username}", "peerhost": "10.0.0.9"}
    response = await live.post(f"{EMQX}/authenticate", json=body, headers=AS_BROKER)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["is_superuser"] is False
    return str(answer["result"])


async def emqx_may(live: httpx.AsyncClient, username: str, action: str, topic: str) -> str:
    body = {"username": username, "clientid": f"c-{username}", "topic": topic, "action": action, "qos": 1}
    response = await live.post(f"{EMQX}/authorize", json=body, headers=AS_BROKER)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"result"}
    return str(response.json()["result"])


async def verne(live: httpx.AsyncClient, hook: str, body: dict[str, Any]) -> dict[str, Any]:
    sent = {"mountpoint": "", "client_id": "c-1", **body}
    response = await live.post(f"{VERNE}/{hook}", json=sent, headers=AS_BROKER)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def credentials(device: dict[str, Any]) -> dict[str, str]:
    creds: dict[str, str] = device["credentials"]
    return creds


async def test_registration_stores_the_password_hash_and_calls_no_dynsec(
    http_backend: None, monkeypatch: pytest.MonkeyPatch, devices: Devices, estate: dict[str, Any]
) -> None:
    calls: list[str] = []

    async def record(acls: list[broker.DeviceAcl]) -> None:
        calls.append("create")

    monkeypatch.setattr(broker, "create_devices", record)
    sensor = await devices.register("co_sensor", estate["id"], building="2栋")
    with superuser() as conn:
        row = conn.execute("select mqtt_password_hash from devices where id = %s", (sensor["id"],)).fetchone()
    assert row is not None and row[0] == sha256_hex(credentials(sensor)["mqtt_password"])
    assert calls == []


async def test_the_dynsec_backend_stays_the_default(
    monkeypatch: pytest.MonkeyPatch, devices: Devices, estate: dict[str, Any]
) -> None:
    created: list[str] = []

    async def record(acls: list[broker.DeviceAcl]) -> None:
        created.extend(a.username for a in acls)

    monkeypatch.setattr(broker, "create_devices", record)
    sensor = await devices.register("co_sensor", estate["id"], building="2栋")
    assert created == [credentials(sensor)["mqtt_username"]]


async def test_a_device_connects_with_its_own_password_only(
    http_backend: None, live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    creds = credentials(await devices.register("co_sensor", estate["id"], building="2栋"))
    other = credentials(await devices.register("co_sensor", estate["id"], building="3栋"))
    assert await emqx_login(live, creds["mqtt_username"], creds["mqtt_password"]) == "allow"
    assert await emqx_login(live, creds["mqtt_username"], other["mqtt_password"]) == "deny"
    assert await emqx_login(live, creds["mqtt_username"], "") == "deny"
    assert await emqx_login(live, "mumianling.no-such-device", creds["mqtt_password"]) == "deny"


async def test_a_device_may_use_its_own_topics_only(
    http_backend: None, live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    creds = credentials(await devices.register("co_sensor", estate["id"], building="2栋"))
    neighbour = credentials(await devices.register("co_sensor", estate["id"], building="3栋"))
    _, foreign_serial = other_tenants_device()
    me = creds["mqtt_username"]
    assert await emqx_may(live, me, "publish", creds["telemetry_topic"]) == "allow"
    assert await emqx_may(live, me, "publish", creds["acks_topic"]) == "allow"
    assert await emqx_may(live, me, "subscribe", creds["commands_topic"]) == "allow"
    refused = [
        ("publish", creds["commands_topic"]),  # only the platform sends commands
        ("subscribe", creds["telemetry_topic"]),
        ("publish", neighbour["telemetry_topic"]),  # another device of the same tenant
        ("subscribe", neighbour["commands_topic"]),
        ("publish", f"linli/nanhong/{foreign_serial}/telemetry"),  # another tenant's device
        ("subscribe", "linli/mumianling/+/commands"),
        ("subscribe", "linli/#"),
        ("subscribe", "$share/linli-ingest/linli/+/+/telemetry"),
    ]
    for action, topic in refused:
        assert await emqx_may(live, me, action, topic) == "deny", (action, topic)


async def test_a_suspended_tenants_devices_are_refused(
    http_backend: None, live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    creds = credentials(await devices.register("co_sensor", estate["id"], building="2栋"))
    with superuser() as conn:
        conn.execute("update tenants set status = 'suspended' where slug = 'mumianling'")
    service.logins.clear()  # a login is kept for a few seconds
    try:
        assert await emqx_login(live, creds["mqtt_username"], creds["mqtt_password"]) == "deny"
        assert await emqx_may(live, creds["mqtt_username"], "publish", creds["telemetry_topic"]) == "deny"
        answer = await verne(
            live, "auth_on_register", {"username": creds["mqtt_username"], "password": creds["mqtt_password"]}
        )
        assert answer == {"result": {"error": "not_allowed"}}
    finally:
        with superuser() as conn:
            conn.execute("update tenants set status = 'active' where slug = 'mumianling'")
    service.logins.clear()
    assert await emqx_login(live, creds["mqtt_username"], creds["mqtt_password"]) == "allow"


async def test_a_revoked_device_is_refused(
    http_backend: None, live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    sensor = await devices.register("co_sensor", estate["id"], building="2栋")
    creds = credentials(sensor)
    assert await emqx_login(live, creds["mqtt_username"], creds["mqtt_password"]) == "allow"
    revoked = await live.delete(f"/api/v1/devices/{sensor['id']}", headers=devices.headers)
    assert revoked.status_code == 200, revoked.text
    service.logins.clear()
    assert await emqx_login(live, creds["mqtt_username"], creds["mqtt_password"]) == "deny"
    assert await emqx_may(live, creds["mqtt_username"], "subscribe", creds["commands_topic"]) == "deny"


async def test_the_service_account_subscribes_to_the_shared_subscriptions(
    http_backend: None, live: httpx.AsyncClient
) -> None:
    user = broker.SERVICE_USER
    assert await emqx_login(live, user, broker.service_password()) == "allow"
    assert await emqx_login(live, user, "guess") == "deny"
    # EMQX may hand over the shared filter with or without its `$share/<group>/` prefix.
    for topic in ("$share/linli-ingest/linli/+/+/telemetry", "$share/g2/linli/+/+/acks", "linli/+/+/telemetry"):
        assert await emqx_may(live, user, "subscribe", topic) == "allow", topic
    assert await emqx_may(live, user, "publish", "linli/mumianling/CO-1/commands") == "allow"
    assert await emqx_may(live, user, "subscribe", "#") == "deny"
    assert await emqx_may(live, user, "subscribe", "$SYS/broker/clients") == "deny"
    assert await emqx_may(live, user, "publish", "other/topic") == "deny"


async def test_the_service_password_can_be_configured(
    http_backend: None, monkeypatch: pytest.MonkeyPatch, live: httpx.AsyncClient
) -> None:
    derived = broker.service_password()
    monkeypatch.setattr(get_iot_settings(), "mqtt_service_password", "configured-service-password")
    assert await emqx_login(live, broker.SERVICE_USER, "configured-service-password") == "allow"
    assert await emqx_login(live, broker.SERVICE_USER, derived) == "deny"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, "unauthenticated"), ({"X-Linli-Broker-Secret": "not-it"}, 403, "not_the_broker")],
)
async def test_only_the_broker_may_ask(
    http_backend: None, live: httpx.AsyncClient, headers: dict[str, str], status: int, code: str
) -> None:
    body = {"username": broker.SERVICE_USER, "password": broker.service_password(), "clientid": "x"}
    for path in (f"{EMQX}/authenticate", f"{VERNE}/auth_on_register"):
        response = await live.post(path, json=body, headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


async def test_without_a_configured_secret_every_call_is_refused(
    http_backend: None, monkeypatch: pytest.MonkeyPatch, live: httpx.AsyncClient
) -> None:
    monkeypatch.setattr(get_iot_settings(), "mqtt_auth_secret", None)
    body = {"username": broker.SERVICE_USER, "password": broker.service_password()}
    response = await live.post(f"{EMQX}/authenticate", json=body, headers=AS_BROKER)
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_the_broker"


async def test_vernemq_webhooks(
    http_backend: None, live: httpx.AsyncClient, devices: Devices, estate: dict[str, Any]
) -> None:
    creds = credentials(await devices.register("co_sensor", estate["id"], building="2栋"))
    me = creds["mqtt_username"]
    for hook in ("auth_on_register", "auth_on_register_m5"):
        login = {"username": me, "password": creds["mqtt_password"], "peer_addr": "10.0.0.9", "peer_port": 5100}
        assert await verne(live, hook, {**login, "clean_session": True}) == {"result": "ok"}
        wrong = {**login, "password": "wrong"}
        assert await verne(live, hook, wrong) == {"result": {"error": "not_allowed"}}
    for hook in ("auth_on_publish", "auth_on_publish_m5"):
        publish = {"username": me, "qos": 1, "payload": "e30=", "retain": False, "properties": {}}
        assert await verne(live, hook, {**publish, "topic": creds["telemetry_topic"]}) == {"result": "ok"}
        refused = await verne(live, hook, {**publish, "topic": creds["commands_topic"]})
        assert refused == {"result": {"error": "not_allowed"}}
    own = {"topic": creds["commands_topic"], "qos": 1}
    foreign = {"topic": "linli/mumianling/+/commands", "qos": 1}
    assert await verne(live, "auth_on_subscribe", {"username": me, "topics": [own]}) == {"result": "ok"}
    assert await verne(live, "auth_on_subscribe", {"username": me, "topics": [own, foreign]}) == {
        "result": "ok",
        "topics": [own, {**foreign, "qos": 128}],
    }
    assert await verne(live, "auth_on_subscribe_m5", {"username": me, "topics": [own, foreign], "properties": {}}) == {
        "result": "ok",
        "modifiers": {"topics": [own, {**foreign, "qos": 135}]},
    }
    for hook in ("auth_on_subscribe", "auth_on_subscribe_m5"):
        assert await verne(live, hook, {"username": me, "topics": [foreign]}) == {"result": {"error": "not_allowed"}}
    # A client under a mountpoint would see other topics than the ones checked: refused.
    mounted = {"username": me, "password": creds["mqtt_password"], "mountpoint": "elsewhere"}
    assert await verne(live, "auth_on_register", mounted) == {"result": {"error": "not_allowed"}}
