"""The broker-auth router: EMQX 5's HTTP authentication and authorization, and VerneMQ's webhooks, each
answered in the format that broker documents. Every call must come from the broker (`BrokerOnly`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from linli.iot.brokerauth import service
from linli.iot.brokerauth.schemas import EmqxAuthn, EmqxAuthnResult, EmqxAuthz, EmqxAuthzResult, VerneHook
from linli.iot.permissions import BrokerOnly

PREFIX = "/api/v1/mqtt-auth"
router = APIRouter(prefix=PREFIX, tags=["mqtt-auth"], dependencies=[BrokerOnly])
EMQX_PATHS = (f"{PREFIX}/emqx/authenticate", f"{PREFIX}/emqx/authorize")
VERNEMQ_HOOKS = (
    "auth_on_register",
    "auth_on_publish",
    "auth_on_subscribe",
    "auth_on_register_m5",
    "auth_on_publish_m5",
    "auth_on_subscribe_m5",
)
# Called by the broker with its shared secret, not by a principal with roles.
PUBLIC_PATHS = (*EMQX_PATHS, *(f"{PREFIX}/vernemq/{hook}" for hook in VERNEMQ_HOOKS))
# VerneMQ's "not authorized" for one topic of a subscription: MQTT 3.1.1 has only 0x80, MQTT 5 has 0x87.
REFUSED_QOS_V4 = 128
REFUSED_QOS_V5 = 135


# --- EMQX 5: HTTP authentication and authorization ------------------------------------------------


@router.post("/emqx/authenticate", operation_id="mqtt_auth_emqx_authenticate")
async def emqx_authenticate(body: EmqxAuthn) -> EmqxAuthnResult:
    """EMQX HTTP authentication: `allow` for a device's own login (never a superuser), else `deny`."""
    allowed = await service.authenticate(body.username, body.password)
    return EmqxAuthnResult(result="allow" if allowed else "deny")


@router.post("/emqx/authorize", operation_id="mqtt_auth_emqx_authorize")
async def emqx_authorize(body: EmqxAuthz) -> EmqxAuthzResult:
    """EMQX HTTP authorization: a device publishes to its telemetry and acks topics and subscribes to its
    commands topic; nothing else."""
    allowed = await service.authorize(body.username, body.topic, body.action)
    return EmqxAuthzResult(result="allow" if allowed else "deny")


# --- VerneMQ webhooks ----------------------------------------------------------------------------


def _verne(allowed: bool) -> dict[str, Any]:
    return {"result": "ok"} if allowed else {"result": {"error": "not_allowed"}}


@router.post("/vernemq/auth_on_register", operation_id="mqtt_auth_vernemq_register")
@router.post("/vernemq/auth_on_register_m5", operation_id="mqtt_auth_vernemq_register_m5")
async def vernemq_register(body: VerneHook) -> dict[str, Any]:
    """VerneMQ `auth_on_register(_m5)`: `{"result": "ok"}` or `{"result": {"error": "not_allowed"}}`."""
    return _verne(not body.mountpoint and await service.authenticate(body.username, body.password))


@router.post("/vernemq/auth_on_publish", operation_id="mqtt_auth_vernemq_publish")
@router.post("/vernemq/auth_on_publish_m5", operation_id="mqtt_auth_vernemq_publish_m5")
async def vernemq_publish(body: VerneHook) -> dict[str, Any]:
    """VerneMQ `auth_on_publish(_m5)`: only the device's own telemetry and acks topics."""
    return _verne(not body.mountpoint and await service.authorize(body.username, body.topic, "publish"))


async def _subscribe(body: VerneHook, refused_qos: int) -> tuple[bool, list[dict[str, Any]] | None]:
    """(any allowed, the topics with the refused ones marked) — None when every topic is allowed. A client
    under a mountpoint would see other topics than the ones checked: all refused."""
    if body.mountpoint:
        decisions = [False] * len(body.topics)
    else:
        decisions = await service.authorize_each(body.username, [t.topic for t in body.topics], "subscribe")
    if all(decisions):
        return bool(decisions), None
    marked = [
        {"topic": t.topic, "qos": t.qos if ok else refused_qos} for t, ok in zip(body.topics, decisions, strict=True)
    ]
    return any(decisions), marked


@router.post("/vernemq/auth_on_subscribe", operation_id="mqtt_auth_vernemq_subscribe")
async def vernemq_subscribe(body: VerneHook) -> dict[str, Any]:
    """VerneMQ `auth_on_subscribe`: refused outright when no topic is allowed, else the topics with each
    refused one at qos 128."""
    allowed, marked = await _subscribe(body, REFUSED_QOS_V4)
    if not allowed:
        return _verne(False)
    return {"result": "ok"} if marked is None else {"result": "ok", "topics": marked}


@router.post("/vernemq/auth_on_subscribe_m5", operation_id="mqtt_auth_vernemq_subscribe_m5")
async def vernemq_subscribe_m5(body: VerneHook) -> dict[str, Any]:
    """VerneMQ `auth_on_subscribe_m5`: like the 3.1.1 hook; refused topics at reason 135 (not authorized)
    inside `modifiers`."""
    allowed, marked = await _subscribe(body, REFUSED_QOS_V5)
    if not allowed:
        return _verne(False)
    return {"result": "ok"} if marked is None else {"result": "ok", "modifiers": {"topics": marked}}
