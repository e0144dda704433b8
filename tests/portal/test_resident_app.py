"""The residents' app at /app/{slug}/, at phone size: the tenant's branding and services, sign-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from linli.demo import DEMO_PASSWORD
from tests.conftest import Login
from tests.portal.conftest import shot

if TYPE_CHECKING:
    from playwright.async_api import Page

RESIDENT = "13800000001"


async def sign_in_to_app(phone: Page, slug: str, login: str, password: str = DEMO_PASSWORD) -> None:
    from playwright.async_api import expect

    await phone.goto(f"/app/{slug}/")
    await phone.get_by_test_id("login-mode").click()
    await phone.get_by_test_id("phone-input").locator("input").fill(login)
    await phone.get_by_test_id("password-input").locator("input").fill(password)
    await phone.get_by_test_id("password-submit").click()
    await expect(phone.get_by_test_id("tab-home")).to_be_visible()


async def test_a_resident_sees_the_tenants_branding_and_services_in_both_languages(phone: Page) -> None:
    from playwright.async_api import expect

    await phone.goto("/app/mumianling/")
    await expect(phone.get_by_test_id("app-title")).to_have_text("木棉岭社区邻里")
    await shot(phone, "app-login-zh")
    await sign_in_to_app(phone, "mumianling", RESIDENT)
    await expect(phone.get_by_test_id("service-party_news")).to_contain_text("党建动态")
    await shot(phone, "app-home-zh")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390

    await phone.get_by_test_id("lang-switch").click()
    await expect(phone.get_by_test_id("service-party_news")).to_contain_text("Party news")
    await expect(phone.get_by_test_id("tab-services")).to_contain_text("Services")
    await shot(phone, "app-home-en")
    await phone.get_by_test_id("tab-me").click()
    await expect(phone.get_by_test_id("me-name")).to_contain_text("悦峰尚府居民")
    await phone.get_by_test_id("sign-out").click()
    await expect(phone.get_by_test_id("code-send")).to_be_visible()


async def test_an_unknown_tenant_says_so(phone: Page) -> None:
    from playwright.async_api import expect

    await phone.goto("/app/no-such-tenant/")
    await expect(phone.get_by_text("找不到该社区的应用")).to_be_visible()


async def test_a_service_switched_off_by_staff_disappears_from_the_app(
    phone: Page, server: str, login: Login, client: httpx.AsyncClient
) -> None:
    from playwright.async_api import expect

    staff = await login("staff@mumianling.demo")
    tenant = (await client.get("/api/v1/tenants", headers=staff)).json()["items"][0]
    path = f"/api/v1/tenants/{tenant['id']}/services/party_news"
    await sign_in_to_app(phone, "mumianling", RESIDENT)
    await expect(phone.get_by_test_id("service-party_news")).to_have_count(1)
    async with httpx.AsyncClient(base_url=server, headers=staff) as live:
        assert (await live.patch(path, json={"enabled": False})).status_code == 200
        try:
            await phone.reload()
            await expect(phone.get_by_test_id("service-party_volunteer")).to_have_count(1)
            await expect(phone.get_by_test_id("service-party_news")).to_have_count(0)
            config = (await live.get("/api/v1/app/mumianling/config")).json()
            assert "party_news" not in {s["code"] for section in config["sections"] for s in section["services"]}
        finally:
            await live.patch(path, json={"enabled": True})
