"""Request bodies are limited in the ASGI layer per route class, before anything parses them, and
routes that take large bodies want their credential before reading a byte."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.conftest import Login

CHUNK = 64 * 1024
FIFTY_MB = 50 * 1024 * 1024


class Body:
    """A streamed request body of `size` bytes that counts how much of it the server consumed."""

    def __init__(self, size: int, prefix: bytes = b"") -> None:
        self.size = size
        self.prefix = prefix
        self.consumed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.prefix
        while self.consumed < self.size:
            self.consumed += CHUNK
            yield b"x" * CHUNK


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and error["message"]


async def test_a_declared_50_mb_ingest_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    body = Body(FIFTY_MB)
    response = await client.post(
        "/api/v1/ingest",
        content=body,
        headers={"x-device-token": "any", "content-length": str(FIFTY_MB), "content-type": "application/json"},
    )
    assert_too_large(response)
    assert body.consumed == 0


async def test_a_streamed_body_is_cut_off_at_the_limit(client: httpx.AsyncClient, login: Login) -> None:
    body = Body(FIFTY_MB)  # chunked: no Content-Length to refuse it by
    response = await client.post(
        "/api/v1/events", content=body, headers=await login("admin@luohu.demo") | {"content-type": "application/json"}
    )
    assert_too_large(response)
    assert 256 * 1024 < body.consumed <= 256 * 1024 + CHUNK


async def test_uploads_take_one_attachment_and_want_credentials_first(client: httpx.AsyncClient, login: Login) -> None:
    path = "/api/v1/events/00000000-0000-0000-0000-000000000000/attachments"
    for credentials in ({}, {"authorization": "Bearer forged.jwt.token"}):
        anonymous = Body(FIFTY_MB)
        headers = credentials | {"content-type": "multipart/form-data; boundary=b"}
        response = await client.post(path, content=anonymous, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
        assert anonymous.consumed == 0
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    signed_in = Body(FIFTY_MB, prefix=part)
    headers = await login("admin@luohu.demo") | {"content-type": "multipart/form-data; boundary=b"}
    assert_too_large(await client.post(path, content=signed_in, headers=headers))
    assert 5 * 1024 * 1024 < signed_in.consumed < 8 * 1024 * 1024


async def test_ingest_checks_the_device_token_before_reading(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"x-device-token": "not-a-device"}):
        body = Body(FIFTY_MB)
        response = await client.post("/api/v1/ingest", content=body, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
        assert body.consumed == 0


async def test_ordinary_bodies_pass(client: httpx.AsyncClient, login: Login) -> None:
    response = await client.post(
        "/api/v1/events", json={"item": "nope", "node_id": 1}, headers=await login("admin@luohu.demo")
    )
    assert response.status_code not in (401, 413), response.text
