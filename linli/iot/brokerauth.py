"""Device logins and topic rights for brokers that ask over HTTP (`LINLI_MQTT_AUTH_BACKEND=http`): EMQX 5's
HTTP authentication and authorization, and VerneMQ's webhooks (MQTT 3.1.1 and 5 hooks).

A device connects with its MQTT username and password and may publish only to its own telemetry and
acks topics and subscribe only to its own commands topic; a revoked device, or one of a suspended or
offboarded tenant, is refused. The platform's service account (ingest workers, command publisher) has
the rights of its dynamic-security role (`broker.service_acls`), shared subscriptions included.

The endpoints are for the broker only: every call carries the shared secret `LINLI_MQTT_AUTH_SECRET`
in `X-Linli-Broker-Secret`. Devices are looked up as the worker role, like the device-token ingest
endpoint: the API role sees devices only inside a principal's scopes, and there is no principal here.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict

from linli.iot import broker
from linli.iot.config import get_iot_settings
from linli.iot.worker_repository import IngestRepository
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.errors import Forbidden, Unauthenticated
from linli.platform.security import sha256_hex

SECRET_HEADER = "X-Linli-Broker-Secret"
# A login is read once per few seconds at most: a reconnect storm of one device costs one query, and a
# revocation or suspension takes effect within this time.
LOOKUP_TTL_S = 5.0
MAX_CACHED_LOGINS = 100_000
# VerneMQ's "not authorized" for one topic of a subscription: MQTT 3.1.1 has only 0x80, MQTT 5 has 0x87.
REFUSED_QOS_V4 = 128
REFUSED_QOS_V5 = 135


async def broker_only(
    x_linli_broker_secret: Annotated[str | None, Header(description="the shared secret of the broker")] = None,
) -> None:
    """Only the broker may ask: the configured shared secret, compared in constant time."""
    expected = get_iot_settings().mqtt_auth_secret
    if not x_linli_broker_secret:
        raise Unauthenticated(f"{SECRET_HEADER} header required")
    if not expected or not hmac.compare_digest(x_linli_broker_secret.encode(), expected.encode()):
        raise Forbidden("not the broker", code="not_the_broker")


BrokerOnly = Depends(broker_only)
router = APIRouter(prefix="/api/v1/mqtt-auth", tags=["mqtt-auth"], dependencies=[BrokerOnly])
PREFIX = "/api/v1/mqtt-auth"
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


# --- Who may do what -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    slug: str
    serial: str
    password_hash: str | None


class LoginCache:
    """Active device logins by username (None: unknown, revoked or suspended), each for LOOKUP_TTL_S."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Login | None, float]] = {}

    def clear(self) -> None:
        self.entries.clear()

    async def get(self, username: str) -> Login | None:
        clock = time.monotonic()
        cached = self.entries.get(username)
        if cached is not None and cached[1] > clock:
            return cached[0]
        async with scoped_session(SYSTEM_SCOPE) as session:
            row = await IngestRepository(session).active_device_login(username)
        login = None if row is None else Login(str(row.slug), str(row.serial), row.mqtt_password_hash)
        if len(self.entries) >= MAX_CACHED_LOGINS:
            self.entries = {k: v for k, v in self.entries.items() if v[1] > clock}
            if len(self.entries) >= MAX_CACHED_LOGINS:
                self.entries.clear()
        self.entries[username] = (login, clock + LOOKUP_TTL_S)
        return login


logins = LoginCache()


def _is_service(username: str | None) -> bool:
    return username == broker.SERVICE_USER


def covers(pattern: str, topic: str) -> bool:
    """Whether an ACL pattern (with + and #) covers a topic or topic filter: every level the filter can
    match, the pattern matches too (a `+` in the filter only under a `+` or `#` of the pattern)."""
    want = pattern.split("/")
    have = topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or have[i] == "#":
            return False
        if level != "+" and level != have[i]:
            return False
    return len(want) == len(have)


async def authenticate(username: str | None, password: str | None) -> bool:
    if not username or not password:
        return False
    if _is_service(username):
        return hmac.compare_digest(password.encode(), broker.service_password().encode())
    login = await logins.get(username)
    if login is None or login.password_hash is None:
        return False
    return hmac.compare_digest(sha256_hex(password), login.password_hash)


async def authorize(username: str | None, topic: str | None, action: Literal["publish", "subscribe"]) -> bool:
    if not username or not topic:
        return False
    if _is_service(username):
        acltype = "publishClientSend" if action == "publish" else "subscribePattern"
        return any(a["acltype"] == acltype and covers(a["topic"], topic) for a in broker.service_acls())
    login = await logins.get(username)
    if login is None:
        return False
    kinds = ("telemetry", "acks") if action == "publish" else ("commands",)
    return topic in {broker.topic(login.slug, login.serial, kind) for kind in kinds}


# --- EMQX 5: HTTP authentication and authorization ------------------------------------------------


class EmqxAuthn(BaseModel):
    """The body template configured in EMQX: {"username": "${username}", "password": "${password}",
    "clientid": "${clientid}"}; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    username: str | None = None
    password: str | None = None
    clientid: str | None = None


class EmqxAuthz(BaseModel):
    """{"username": "${username}", "topic": "${topic}", "action": "${action}", "clientid": "${clientid}"}."""

    model_config = ConfigDict(extra="ignore")
    username: str | None = None
    topic: str | None = None
    action: Literal["publish", "subscribe"]
    clientid: str | None = None


class EmqxAuthnResult(BaseModel):
    result: Literal["allow", "deny"]
    is_superuser: bool = False


class EmqxAuthzResult(BaseModel):
    result: Literal["allow", "deny"]


@router.post("/emqx/authenticate", operation_id="mqtt_auth_emqx_authenticate")
async def emqx_authenticate(body: EmqxAuthn) -> EmqxAuthnResult:
    """EMQX HTTP authentication: `allow` for a device's own login (never a superuser), else `deny`."""
    allowed = await authenticate(body.username, body.password)
    return EmqxAuthnResult(result="allow" if allowed else "deny")


@router.post("/emqx/authorize", operation_id="mqtt_auth_emqx_authorize")
async def emqx_authorize(body: EmqxAuthz) -> EmqxAuthzResult:
    """EMQX HTTP authorization: a device publishes to its telemetry and acks topics and subscribes to its
    commands topic; nothing else."""
    allowed = await authorize(body.username, body.topic, body.action)
    return EmqxAuthzResult(result="allow" if allowed else "deny")


# --- VerneMQ webhooks ----------------------------------------------------------------------------


class VerneTopic(BaseModel):
    model_config = ConfigDict(extra="ignore")
    topic: str
    qos: int


class VerneHook(BaseModel):
    """What VerneMQ sends to auth_on_register, auth_on_publish and auth_on_subscribe (and their _m5
    variants); the payload of a publish and the MQTT 5 properties are ignored."""

    model_config = ConfigDict(extra="ignore")
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    mountpoint: str = ""
    topic: str | None = None
    topics: list[VerneTopic] = []


def _verne(allowed: bool) -> dict[str, Any]:
    return {"result": "ok"} if allowed else {"result": {"error": "not_allowed"}}


@router.post("/vernemq/auth_on_register", operation_id="mqtt_auth_vernemq_register")
@router.post("/vernemq/auth_on_register_m5", operation_id="mqtt_auth_vernemq_register_m5")
async def vernemq_register(body: VerneHook) -> dict[str, Any]:
    """VerneMQ `auth_on_register(_m5)`: `{"result": "ok"}` or `{"result": {"error": "not_allowed"}}`."""
    return _verne(not body.mountpoint and await authenticate(body.username, body.password))


@router.post("/vernemq/auth_on_publish", operation_id="mqtt_auth_vernemq_publish")
@router.post("/vernemq/auth_on_publish_m5", operation_id="mqtt_auth_vernemq_publish_m5")
async def vernemq_publish(body: VerneHook) -> dict[str, Any]:
    """VerneMQ `auth_on_publish(_m5)`: only the device's own telemetry and acks topics."""
    return _verne(not body.mountpoint and await authorize(body.username, body.topic, "publish"))


async def _subscribe(body: VerneHook, refused_qos: int) -> tuple[bool, list[dict[str, Any]] | None]:
    """(any allowed, the topics with the refused ones marked) — None when every topic is allowed."""
    decisions = [(t, not body.mountpoint and await authorize(body.username, t.topic, "subscribe")) for t in body.topics]
    if all(ok for _, ok in decisions):
        return bool(decisions), None
    marked = [{"topic": t.topic, "qos": t.qos if ok else refused_qos} for t, ok in decisions]
    return any(ok for _, ok in decisions), marked


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
