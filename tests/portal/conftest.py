"""The built web front end in a real headless Chromium against a real uvicorn server on the test database
(the demo district the session conftest committed). Screenshots go to .local/screenshots/ for people to
look at; nothing compares them pixel by pixel."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from linli.demo import DEMO_PASSWORD
from tests.conftest import Login

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Response

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
SCREENSHOTS = ROOT / ".local" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(migrated_database: str) -> Iterator[str]:
    """uvicorn in its own process, serving the API and the built pages (portal/dist)."""
    if not (ROOT / "portal" / "dist" / "index.html").is_file():
        pytest.fail("portal/dist is not built: run scripts/bootstrap (npm ci and npm run build in portal/)")
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
        for _ in range(300):
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


@pytest.fixture(scope="session")
def chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the UI tests need a real browser; "
            "run scripts/bootstrap (installs Debian's chromium) or set LINLI_CHROMIUM"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright, expect

    # A shared machine can take seconds to answer under load: wait as long as actions do.
    expect.set_options(timeout=15_000)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def _page(browser: Browser, server: str, viewport: dict[str, int]) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=server, locale="zh-CN", viewport=viewport, timezone_id="Asia/Shanghai", is_mobile=viewport == PHONE
    )
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        await context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
async def page(browser: Browser, server: str) -> AsyncIterator[Page]:
    """A desktop-sized page in a fresh browser context; the test fails on any uncaught JavaScript error."""
    async for made in _page(browser, server, DESKTOP):
        yield made


@pytest.fixture
async def phone(browser: Browser, server: str) -> AsyncIterator[Page]:
    """A phone-sized page (390×844), as grid workers, property staff and residents hold it."""
    async for made in _page(browser, server, PHONE):
        yield made


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real server's API, for setting the scene and checking what the pages did."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def login(http: httpx.AsyncClient) -> Login:
    """Demo accounts signed in against the real server (their tokens serve the in-process client too)."""
    return Login(http)


async def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    """The page (or, with full_page=False, what the screen shows: a drawer over a long list)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def use_language(page: Page, lang: str) -> None:
    """The console in `lang` ("en" or "zh-CN"): stored, reloaded, and waited for until the page is drawn
    again (navigating before that races the reload's own first navigation)."""
    from playwright.async_api import expect

    await page.evaluate("lang => localStorage.setItem('linli.lang', lang)", "en" if lang == "en" else "zh-CN")
    await page.reload()
    await expect(page.get_by_test_id("lang-switch")).to_have_text("中文" if lang == "en" else "English")


async def sign_in(page: Page, login: str, password: str = DEMO_PASSWORD) -> None:
    """Signs in through the console's form and waits for the shell."""
    from playwright.async_api import expect

    await page.goto("/")
    await page.get_by_test_id("login-username").fill(login)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("node-breadcrumb")).to_be_visible()


DASHBOARD = "/api/v1/dashboards/nodes/"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_midnight(days_back: int) -> datetime:
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_back)


def is_dashboard_response(node_id: int | None = None) -> Any:
    def check(response: Response) -> bool:
        path = httpx.URL(response.url).path
        return path.startswith(DASHBOARD) and (node_id is None or path == f"{DASHBOARD}{node_id}")

    return check


async def dashboard_as_the_page_asked(page: Page, response: Response) -> dict[str, Any]:
    """The same request the page made (node, from, to), made again by the test with the page's token."""
    token = await page.evaluate("sessionStorage.getItem('linli.access_token')")
    url = httpx.URL(response.url)
    async with httpx.AsyncClient(base_url=f"{url.scheme}://{url.netloc.decode()}") as http:
        answer = await http.get(url.path, params=url.params, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
