"""The portal in a real headless Chromium against a real uvicorn server on the (committed) test database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from linli.demo import DEMO_PASSWORD
from linli.portal.api import PUBLIC_PATHS, portal_router

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(migrated_database: str) -> Iterator[str]:
    """uvicorn in its own process: it sees the demo data the conftest committed to the test database."""
    port = _free_port()
    env = os.environ | {"LINLI_ENV": "test", "LINLI_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "linli.platform.app:create_app", "--factory", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("uvicorn did not answer /healthz")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the portal tests need a real browser; "
            "run scripts/bootstrap (installs Debian's chromium) or set LINLI_CHROMIUM"
        )
    return CHROMIUM


@pytest.fixture
async def page(server: str, chromium: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(base_url=server, locale="zh-CN")
            browser_page = await context.new_page()
            browser_page.set_default_timeout(15_000)
            yield browser_page
        finally:
            await browser.close()


async def sign_in(page: object, login: str, password: str = DEMO_PASSWORD) -> None:
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.goto("/")
    await page.fill("#username", login)
    await page.fill("#password", password)
    await page.click("#login-submit")


async def test_staff_signs_in_and_drills_from_community_to_grid_to_estate(page: object, server: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto("/")
    await expect(page.locator("#login-form")).to_be_visible()
    await sign_in(page, "staff@mumianling.demo")

    await expect(page.locator("#me-name")).to_have_text("木棉岭社区工作人员")
    await expect(page.locator("#me-grants li")).to_contain_text(["社区工作人员 · d440303.s005.c001"])
    token = await page.evaluate("sessionStorage.getItem('linli.access_token')")
    assert token and token.count(".") == 2

    community = page.locator("#tree li.node")
    await expect(community).to_have_count(1)
    await expect(community.first).to_contain_text("木棉岭社区")
    await community.first.locator("a.name").click()

    grids = page.locator("#tree li.node[data-level=grid]")
    await expect(grids.first).to_contain_text("木棉岭第1网格")
    assert await grids.count() >= 3
    await expect(page.locator("#breadcrumb")).to_contain_text("木棉岭社区")
    await grids.first.locator("a.name").click()

    estates = page.locator("#tree li.node[data-level=estate]")
    await expect(estates.first).to_contain_text("悦峰尚府")
    await expect(page.locator("#breadcrumb a")).to_have_text(["全部", "木棉岭社区", "木棉岭第1网格"])

    # English, then back up the trail through the breadcrumb.
    await page.click("#lang-toggle")
    await expect(page.locator("#tree-title")).to_have_text("Area")
    await expect(estates.first.locator(".level")).to_have_text("Estate")
    await expect(page.locator("#lang-toggle")).to_have_text("中文")
    await page.locator("#breadcrumb a[data-depth='1']").click()
    await expect(page.locator("#tree li.node[data-level=grid]").first).to_contain_text("Grid 1")

    # Reloading keeps the session (sessionStorage) and the language; signing out forgets the token.
    await page.reload()
    await expect(page.locator("#me-name")).to_have_text("木棉岭社区工作人员")
    await expect(page.locator("#logout")).to_have_text("Sign out")
    await page.click("#logout")
    await expect(page.locator("#login-form")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('linli.access_token')") is None
    assert errors == []


async def test_wrong_password_shows_the_api_message(page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await sign_in(page, "staff@mumianling.demo", "not-the-password")
    await expect(page.locator("#login-error")).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()


async def test_portal_routes_are_public_hidden_from_openapi_and_locked_down(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert "/static/portal.js?v=" in index.text
    script = await client.get("/static/portal.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for bad in ("/static/../api.py", "/static/api.py", "/static/nope.js"):
        response = await client.get(bad)
        assert response.status_code == 404, bad
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not set(PUBLIC_PATHS) & set(paths)
    assert {getattr(r, "path", None) for r in portal_router.routes} == set(PUBLIC_PATHS)


@pytest.fixture
def two_alarms() -> Iterator[dict[str, int]]:
    """Committed: an open alarm at 悦峰尚府 (grid 1 of 木棉岭) and an acknowledged one in grid 2."""
    import uuid

    from tests.tenants.support import superuser

    made: dict[str, int] = {}
    with superuser() as conn:
        tenant = conn.execute("select id from tenants where slug = 'mumianling'").fetchone()
        assert tenant is not None
        for key, place, state in (("grid1", "悦峰尚府", "open"), ("grid2", "g02", "acknowledged")):
            estate = conn.execute(
                "select n.id, n.node_path from nodes n join nodes c on n.node_path <@ c.node_path "
                "where c.name = '木棉岭社区' and n.level = 'estate' and (n.name = %s or subpath(n.node_path, "
                "nlevel(c.node_path), 1)::text = %s) order by n.id limit 1",
                (place, place),
            ).fetchone()
            assert estate is not None, place
            serial = f"PORTAL-{uuid.uuid4().hex[:8]}"
            device = conn.execute(
                "insert into devices (tenant_id, node_id, node_path, type_code, serial, token_hash, mqtt_username) "
                "values (%s, %s, %s, 'smoke_detector', %s, %s, %s) returning id",
                (tenant[0], estate[0], estate[1], serial, uuid.uuid4().hex * 2, f"mumianling.{serial}"),
            ).fetchone()
            assert device is not None
            alarm = conn.execute(
                "insert into alarms (tenant_id, device_id, node_id, node_path, rule_code, kind, severity, state, "
                "opened_at) values (%s, %s, %s, %s, 'smoke', 'state', 'critical', %s, now()) returning id",
                (tenant[0], device[0], estate[0], estate[1], state),
            ).fetchone()
            assert alarm is not None
            made[key], made[f"{key}_device"] = alarm[0], device[0]
    yield made
    with superuser() as conn:
        conn.execute("delete from alarms where id = any(%s)", ([made["grid1"], made["grid2"]],))
        conn.execute("delete from devices where id = any(%s)", ([made["grid1_device"], made["grid2_device"]],))


async def test_active_alarms_follow_the_node_being_looked_at(page: object, two_alarms: dict[str, int]) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await sign_in(page, "staff@mumianling.demo")
    ours = f"#alarms li[data-alarm-id='{two_alarms['grid1']}']"
    theirs = f"#alarms li[data-alarm-id='{two_alarms['grid2']}']"
    await expect(page.locator("#alarms-panel h2")).to_have_text("未处置告警")
    await expect(page.locator(ours)).to_contain_text("紧急")
    await expect(page.locator(theirs)).to_contain_text("已确认")
    await page.locator("#tree li.node a.name").first.click()  # 木棉岭社区: both grids below
    await expect(page.locator(theirs)).to_have_count(1)
    await page.locator("#tree li.node[data-level=grid] a.name").first.click()  # 第1网格
    await expect(page.locator(ours)).to_contain_text("smoke")
    await expect(page.locator(theirs)).to_have_count(0)
    await page.click("#lang-toggle")
    await expect(page.locator(ours)).to_contain_text("Critical")


async def test_roles_without_alarm_access_see_no_alarm_panel(page: object, two_alarms: dict[str, int]) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await sign_in(page, "13800000001")
    await expect(page.locator("#tree li.node")).to_have_count(1)
    await expect(page.locator("#alarms-panel")).to_be_hidden()
    await expect(page.locator("#tree-error")).to_be_hidden()
