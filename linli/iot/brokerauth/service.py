"""Who may connect, publish and subscribe, for brokers that ask over HTTP.

A device connects with its MQTT username and password and may publish only to its own telemetry and
acks topics and subscribe only to its own commands topic; a revoked device, or one of a suspended or
offboarded tenant, is refused. The platform's service account (ingest workers, command publisher) has
the rights of its dynamic-security role (`broker.service_acls`), shared subscriptions included.

Devices are looked up as the worker role, like the device-token ingest endpoint: the API role sees
devices only inside a principal's scopes, and there is no principal here.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from linli.iot import broker
from linli.iot.worker_repository import IngestRepository
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.security import sha256_hex

# A login is read once per few seconds at most: a reconnect storm of one device costs one query, and a
# revocation or suspension takes effect within this time.
LOOKUP_TTL_S = 5.0
MAX_CACHED_LOGINS = 100_000

Action = Literal["publish", "subscribe"]


@dataclass(frozen=True)
class Login:
    slug: str
    serial: str
    password_hash: str | None


class LoginCache:
    """Active device logins by username (None: unknown, revoked or suspended), each for LOOKUP_TTL_S; at
    `capacity`, expired entries are dropped first, and everything if none has expired."""

    def __init__(self, *, capacity: int = MAX_CACHED_LOGINS, clock: Callable[[], float] = time.monotonic) -> None:
        self.entries: dict[str, tuple[Login | None, float]] = {}
        self.capacity = capacity
        self.clock = clock

    def clear(self) -> None:
        self.entries.clear()

    async def get(self, username: str) -> Login | None:
        now = self.clock()
        cached = self.entries.get(username)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with scoped_session(SYSTEM_SCOPE) as session:
            row = await IngestRepository(session).active_device_login(username)
        login = None if row is None else Login(str(row.slug), str(row.serial), row.mqtt_password_hash)
        if len(self.entries) >= self.capacity:
            self.entries = {k: v for k, v in self.entries.items() if v[1] > now}
            if len(self.entries) >= self.capacity:
                self.entries.clear()
        self.entries[username] = (login, now + LOOKUP_TTL_S)
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


async def authorize(username: str | None, topic: str | None, action: Action) -> bool:
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


async def authorize_each(username: str | None, topics: Sequence[str], action: Action) -> list[bool]:
    """One decision per topic (a subscription names several)."""
    return [await authorize(username, topic, action) for topic in topics]
