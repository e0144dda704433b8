"""Webhooks cannot be pointed at the platform's own network (SSRF): refused at registration, and again
at send time against the address the name resolves to then, connecting only to that checked address."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import notifications
from linli.events.notifications import DeliveryError, HttpWebhookSender
from linli.platform.netguard import IPAddress
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.events.conftest import Places, system
from tests.events.test_intake_and_delivery import RESIDENT, allow_webhooks_to


class _Receiver(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str]]] = []  # noqa: RUF012
    status = 204

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        _Receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(_Receiver.status)
        if _Receiver.status in (301, 302, 307, 308):
            self.send_header("location", f"http://127.0.0.1:{self.server.server_address[1]}/followed")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    """A local HTTP server (loopback, like anything on the pod's own network); yields its port."""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.requests.clear()
    _Receiver.status = 204
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:55432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:6379/",
        "http://2130706433/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::1]:8000/",
    ],
)
async def test_registration_refuses_internal_destinations(
    client: httpx.AsyncClient, login: Login, places: Places, url: str
) -> None:
    response = await client.post(
        "/api/v1/webhooks", json={"node_id": places.mumianling, "url": url}, headers=await login("admin@luohu.demo")
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "webhook_url_forbidden"


async def test_the_allow_list_opens_a_network_but_not_metadata(
    client: httpx.AsyncClient, login: Login, places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_webhooks_to(monkeypatch, "127.0.0.0/8,169.254.0.0/16")
    admin = await login("admin@luohu.demo")
    opened = await client.post(
        "/api/v1/webhooks", json={"node_id": places.mumianling, "url": "http://127.0.0.1:9/"}, headers=admin
    )
    assert opened.status_code == 201, opened.text
    metadata = await client.post(
        "/api/v1/webhooks", json={"node_id": places.mumianling, "url": "http://169.254.169.254/"}, headers=admin
    )
    assert metadata.status_code == 400 and metadata.json()["error"]["code"] == "webhook_url_forbidden"


async def test_production_takes_https_only(
    client: httpx.AsyncClient, login: Login, places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await login("admin@luohu.demo")
    monkeypatch.setattr(get_settings(), "env", "production")
    response = await client.post(
        "/api/v1/webhooks", json={"node_id": places.mumianling, "url": "http://93.184.216.34/hook"}, headers=admin
    )
    assert response.status_code == 400 and "https" in response.json()["error"]["message"]


async def test_sending_checks_the_address_again(
    client: httpx.AsyncClient,
    login: Login,
    places: Places,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    receiver: int,
) -> None:
    # Registered while the operator allowed loopback; the allow-list is then withdrawn. `localhost`
    # resolves to loopback at send time, so nothing is sent.
    allow_webhooks_to(monkeypatch, "127.0.0.0/8,::1/128")
    url = f"http://localhost:{receiver}/hook"
    created = await client.post(
        "/api/v1/webhooks", json={"node_id": places.mumianling, "url": url}, headers=await login("admin@luohu.demo")
    )
    assert created.status_code == 201, created.text
    allow_webhooks_to(monkeypatch, "")
    await client.post(
        "/api/v1/events",
        json={"item": "ph_power_outage", "node_id": places.yuefeng, "location": {"building": "9栋"}},
        headers=await login(RESIDENT),
    )
    await system(db)
    assert await notifications.deliver_pending(db) == (0, 1)
    error = await db.scalar(
        text("select last_error from notifications where channel = 'webhook' and address = :u"), {"u": url}
    )
    assert error is not None and "refused" in error and "loopback" in error
    assert _Receiver.requests == []


def hosts(table: dict[str, Sequence[str]]) -> Any:
    async def resolve(host: str) -> Sequence[IPAddress]:
        return [ip_address(a) for a in table[host]]

    return resolve


async def test_the_connection_goes_to_the_checked_address_with_the_original_host(
    monkeypatch: pytest.MonkeyPatch, receiver: int
) -> None:
    allow_webhooks_to(monkeypatch, "127.0.0.1/32")
    sender = HttpWebhookSender(resolver=hosts({"hooks.partner.test": ["127.0.0.1"]}))
    await sender.send(url=f"http://hooks.partner.test:{receiver}/in?x=1", secret="s", body=b"{}")
    assert _Receiver.requests == [("/in?x=1", _Receiver.requests[0][1])]
    assert _Receiver.requests[0][1]["host"] == f"hooks.partner.test:{receiver}"
    # One forbidden address among the answers refuses the whole name: a rebinding answer cannot slip in.
    mixed = HttpWebhookSender(resolver=hosts({"hooks.partner.test": ["127.0.0.1", "10.0.0.8"]}))
    with pytest.raises(DeliveryError, match="private"):
        await mixed.send(url=f"http://hooks.partner.test:{receiver}/in", secret="s", body=b"{}")
    assert len(_Receiver.requests) == 1


async def test_redirects_are_not_followed(monkeypatch: pytest.MonkeyPatch, receiver: int) -> None:
    allow_webhooks_to(monkeypatch, "127.0.0.1/32")
    _Receiver.status = 307
    with pytest.raises(DeliveryError, match="HTTP 307"):
        await HttpWebhookSender().send(url=f"http://127.0.0.1:{receiver}/first", secret="s", body=b"{}")
    assert [path for path, _ in _Receiver.requests] == ["/first"]
