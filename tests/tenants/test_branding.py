"""A tenant's logo: a link, or an image uploaded from the console and carried inline as a data: URL
(the pages' CSP lets images come only from the site or data: URLs)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.tenants.support import CachedLogin, tenant_id

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()


@pytest.mark.parametrize("logo", [PNG, "https://cdn.example.org/nanhong.svg", "/app/nanhong/icon.svg"])
async def test_a_logo_is_a_link_or_an_uploaded_image(client: httpx.AsyncClient, login: CachedLogin, logo: str) -> None:
    headers = await login("admin@wuhou.demo")
    response = await client.patch(
        f"/api/v1/tenants/{tenant_id('nanhong')}", json={"branding": {"logo_url": logo}}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["branding"]["logo_url"] == logo
    config = (await client.get("/api/v1/app/nanhong/config")).json()
    assert config["branding"]["logo_url"] == logo


@pytest.mark.parametrize(
    "logo",
    [
        "javascript:alert(1)",
        "http://insecure.example.org/logo.png",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:image/png;base64,not base64!",
        "https://example.org/" + "a" * 500,
        "data:image/png;base64," + "A" * 70_000,
    ],
)
async def test_anything_else_is_refused(client: httpx.AsyncClient, login: CachedLogin, logo: str) -> None:
    headers = await login("admin@wuhou.demo")
    response = await client.patch(
        f"/api/v1/tenants/{tenant_id('nanhong')}", json={"branding": {"logo_url": logo}}, headers=headers
    )
    assert response.status_code == 422, response.text
