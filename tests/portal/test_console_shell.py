"""The console's shell: serving the built pages, sign-in, the node switcher, the language, the menu."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from linli.portal.api import PUBLIC_PATHS, portal_router
from tests.portal.conftest import shot, sign_in

if TYPE_CHECKING:
    from playwright.async_api import Page

# Each demo staff account and the node its grant names: what it must land on and never leave.
STAFF_HOME = {
    "admin@wuhou.demo": "武侯区",
    "admin@luohu.demo": "罗湖区",
    "staff@nanhong.demo": "南虹村社区",
    "staff@mumianling.demo": "木棉岭社区",
    "grid@mumianling.demo": "木棉岭第1网格",
    "property@yuefeng.demo": "悦峰尚府",
    "auditor@wuhou.demo": "武侯区",
}


async def test_pages_are_public_hidden_from_openapi_cached_by_hash_and_locked_down(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert index.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    script = re.search(r'src="/assets/([^"]+\.js)"', index.text)
    assert script, index.text
    asset = await client.get(f"/assets/{script.group(1)}")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    for bad in ("/assets/../api.py", "/assets/nope.js", "/assets/%2e%2e%2fapi.py", "/assets/index.html"):
        assert (await client.get(bad)).status_code == 404, bad
    app_page = await client.get("/app/mumianling/")
    assert app_page.status_code == 200 and 'src="/assets/' in app_page.text
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not set(PUBLIC_PATHS) & set(paths)
    assert {getattr(r, "path", None) for r in portal_router.routes} == set(PUBLIC_PATHS)


async def test_staff_signs_in_switches_language_and_signs_out(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/")
    await expect(page.get_by_test_id("login-submit")).to_have_text("登录")
    await shot(page, "console-login-zh")
    await sign_in(page, "staff@mumianling.demo")
    await expect(page.get_by_test_id("node-breadcrumb")).to_contain_text("木棉岭社区")
    await expect(page.get_by_test_id("user-menu")).to_have_text("木棉岭社区工作人员")
    token = await page.evaluate("sessionStorage.getItem('linli.access_token')")
    assert token and token.count(".") == 2

    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("menu-command")).to_have_text("Command screen")
    await page.reload()  # the session and the language survive a reload
    await expect(page.get_by_test_id("menu-command")).to_have_text("Command screen")
    await expect(page.get_by_test_id("lang-switch")).to_have_text("中文")
    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("menu-command")).to_have_text("指挥中心")

    await page.get_by_test_id("user-menu").click()
    await page.get_by_test_id("sign-out").click()
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('linli.access_token')") is None


async def test_a_wrong_password_shows_the_apis_message_and_no_shell(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/")
    await page.get_by_test_id("login-username").fill("staff@mumianling.demo")
    await page.get_by_test_id("login-password").fill("not-the-password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    await expect(page.get_by_test_id("node-breadcrumb")).to_have_count(0)


@pytest.mark.parametrize("login", sorted(STAFF_HOME))
async def test_every_demo_staff_account_sees_only_its_subtree(page: Page, login: str) -> None:
    from playwright.async_api import expect

    await sign_in(page, login)
    await expect(page.get_by_test_id("node-breadcrumb").locator("[data-node-id]")).to_have_text([STAFF_HOME[login]])
    await page.get_by_test_id("node-picker").click()
    roots = page.get_by_test_id("node-tree").locator(":scope > .el-tree-node")
    await expect(roots).to_have_count(1)
    await expect(roots.first).to_contain_text(STAFF_HOME[login])
    # A node outside the grant, named in the URL, is refused like a missing one.
    foreign = "木棉岭社区" if STAFF_HOME[login] in ("南虹村社区", "武侯区") else "南虹村社区"
    foreign_id = await page.evaluate(
        """async (name) => {
             const r = await fetch('/api/v1/nodes?q=' + encodeURIComponent(name), {
               headers: { Authorization: 'Bearer ' + sessionStorage.getItem('linli.access_token') } })
             return (await r.json()).items.length }""",
        foreign,
    )
    assert foreign_id == 0


async def test_the_auditor_sees_a_read_only_banner_on_a_phone(phone: Page) -> None:
    from playwright.async_api import expect

    await sign_in(phone, "auditor@wuhou.demo")
    await expect(phone.get_by_test_id("readonly-banner")).to_be_visible()
    await shot(phone, "console-auditor-phone-zh")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
