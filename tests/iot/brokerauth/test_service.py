"""The broker-auth decisions below the HTTP formats: ACL patterns over topic filters, and the login cache
(one database read per username and LOOKUP_TTL_S, bounded in size)."""

from __future__ import annotations

from typing import Any

import pytest

from linli.iot.brokerauth import service
from linli.iot.worker_repository import IngestRepository


@pytest.mark.parametrize(
    ("pattern", "topic", "covered"),
    [
        ("linli/+/+/#", "linli/a/b/telemetry", True),
        ("linli/+/+/#", "linli/+/+/telemetry", True),
        ("linli/+/+/#", "linli/#", False),
        ("linli/+/+/commands", "linli/a/+/commands", True),
        ("linli/a/b/commands", "linli/a/+/commands", False),
        ("$share/+/linli/+/+/acks", "$share/g/linli/+/+/acks", True),
        ("$share/+/linli/+/+/acks", "$share/g/linli/+/+/telemetry", False),
        ("linli/+/+/commands", "linli/a/b", False),
    ],
)
def test_an_acl_pattern_covers_only_narrower_filters(pattern: str, topic: str, covered: bool) -> None:
    assert service.covers(pattern, topic) is covered


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames the cache looked up in the database (none of them exists)."""
    looked_up: list[str] = []

    async def lookup(self: IngestRepository, username: str) -> Any:
        looked_up.append(username)
        return None

    monkeypatch.setattr(IngestRepository, "active_device_login", lookup)
    return looked_up


async def test_a_login_is_read_once_per_ttl(migrated_database: str, reads: list[str]) -> None:
    clock = Clock()
    cache = service.LoginCache(clock=clock)
    assert await cache.get("mumianling.CO-1") is None
    clock.now += service.LOOKUP_TTL_S - 0.1
    assert await cache.get("mumianling.CO-1") is None
    assert reads == ["mumianling.CO-1"]  # a reconnect storm costs one query
    clock.now += 0.2
    await cache.get("mumianling.CO-1")
    assert reads == ["mumianling.CO-1"] * 2  # a revocation shows within the TTL


async def test_a_full_cache_drops_expired_logins_first(migrated_database: str, reads: list[str]) -> None:
    clock = Clock()
    cache = service.LoginCache(capacity=2, clock=clock)
    await cache.get("a.old")
    clock.now += service.LOOKUP_TTL_S + 1
    await cache.get("a.fresh")
    await cache.get("a.new")  # full: the expired login goes
    assert set(cache.entries) == {"a.fresh", "a.new"}
    await cache.get("a.newer")  # full of live logins: start over
    assert set(cache.entries) == {"a.newer"}
