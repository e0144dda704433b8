"""IoT tests need committed rows (the ingest writer and MQTT consumer use their own connections), so
they talk to an app without the rolled-back session override and use unique serials per run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from linli.iot import broker
from linli.iot.consumer import IngestConsumer
from linli.platform import db
from linli.platform.app import create_app
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.iot.mqtt_device import purge_sessions


@pytest.fixture
def api_pod(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it to make this process an API pod from then on: no worker-role URL (production blanks the
    secrets a workload is not given) and no worker engine, until the test ends."""

    def become() -> None:
        monkeypatch.setattr(get_settings(), "worker_database_url", "")
        monkeypatch.delitem(db._engines, "worker", raising=False)

    return become


@pytest.fixture
async def live(migrated_database: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli.test") as http:
        yield http


@pytest.fixture
def live_login(live: httpx.AsyncClient) -> Login:
    return Login(live)


@pytest.fixture(scope="session")
async def consumer(migrated_database: str) -> AsyncIterator[IngestConsumer]:
    """An ingest consumer on a shared-subscription group of its own (other checkouts share the broker)."""
    group = f"linli-test-{uuid.uuid4().hex[:8]}"
    c = IngestConsumer(
        group=group,
        client_id=f"linli-ingest-test-{uuid.uuid4().hex[:8]}",
        max_wait_s=0.005,
        session_expiry_s=0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(c.run(stop))
    for _ in range(100):
        if c.subscribed.is_set():
            break
        await asyncio.sleep(0.05)
    assert c.subscribed.is_set(), "ingest consumer did not subscribe"
    yield c
    stop.set()
    await task
    purge_sessions([f"{c.client_id}-{n}" for n in range(c.connections)])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Devices:
    """Registers devices through the API and removes their broker clients afterwards."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.usernames: list[str] = []

    async def register(self, type_code: str, node_id: int, **location: str) -> dict[str, Any]:
        return await self.register_with(type_code, node_id, **location)

    async def register_with(
        self, type_code: str, node_id: int, *, gateway: bool = False, **location: str
    ) -> dict[str, Any]:
        body = {
            "type": type_code,
            "serial": unique(type_code[:6]),
            "node_id": node_id,
            "location": location,
            "gateway": gateway,
        }
        response = await self.client.post("/api/v1/devices", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        self.usernames.append(created["credentials"]["mqtt_username"])
        return created


@pytest.fixture
async def estate(live: httpx.AsyncClient, live_login: Login) -> dict[str, Any]:
    headers = await live_login("staff@mumianling.demo")
    response = await live.get("/api/v1/nodes", params={"q": "悦峰尚府", "level": "estate"}, headers=headers)
    assert response.status_code == 200, response.text
    node: dict[str, Any] = response.json()["items"][0]
    return node


@pytest.fixture
async def devices(live: httpx.AsyncClient, live_login: Login) -> AsyncIterator[Devices]:
    registry = Devices(live, await live_login("staff@mumianling.demo"))
    yield registry
    if registry.usernames:
        await broker.delete_devices(registry.usernames)
