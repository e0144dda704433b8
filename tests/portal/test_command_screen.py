"""The command screen (指挥中心) in Chromium: the KPI cards and the children table show exactly what
GET /api/v1/dashboards/nodes/{id} answers for the node and window the page asked for, drilling down by
rows and up by the breadcrumb, within the user's own subtree, for every window."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from linli.demo import DEMO_PASSWORD
from linli.events.jobs import events_rollups
from linli.platform.db import dispose_engines
from tests.portal.conftest import (
    DASHBOARD,
    DESKTOP,
    PHONE,
    _page,
    dashboard_as_the_page_asked,
    is_dashboard_response,
    shanghai_midnight,
    shot,
    sign_in,
)
from tests.tenants.support import node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Response

# The way down through Wuhou the test drills, one name per level; the test's own events lie in the estate.
PATH = ["武侯区", "玉林街道", "南虹村社区", "南虹村第1网格", "林荫街9号院"]
LEVELS = ["district", "street", "community", "grid", "estate"]


@pytest.fixture(params=["desktop", "phone"])
async def screen(request: pytest.FixtureRequest, browser: Browser, server: str) -> AsyncIterator[Page]:
    """The same page on a desktop and on a phone."""
    async for made in _page(browser, server, DESKTOP if request.param == "desktop" else PHONE):
        await _still(made)
        yield made


@pytest.fixture(scope="module")
def events_in_the_estate(server: str) -> Iterator[None]:
    """Three events of the test's own at the estate: one resolved, one open, one open from ten days ago,
    so that every level has numbers and the windows differ."""
    with httpx.Client(base_url=server) as http:
        token = http.post("/api/v1/auth/token", data={"username": "staff@nanhong.demo", "password": DEMO_PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        estate = node_by_name(PATH[-1])[0]
        ids = []
        for item, source in (
            ("po_noise_disturbance", "hotline"),
            ("pb_volunteer_request", "staff_patrol"),
            ("po_dispute_neighbour", "staff_patrol"),
        ):
            created = http.post(
                "/api/v1/events",
                json={"item": item, "node_id": estate, "source": source, "description": "指挥中心测试"},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        for action in ("accept", "resolve"):
            moved = http.post(f"/api/v1/events/{ids[0]}/transitions", json={"action": action}, headers=headers)
            assert moved.status_code == 200, moved.text
    with superuser() as conn:
        conn.execute(
            "update events set created_at = now() - interval '10 days', updated_at = now() where id = %s", (ids[2],)
        )
    asyncio.run(_roll_up())  # past days are read from the daily rollup, which the worker keeps
    yield


async def _roll_up() -> None:
    try:
        await events_rollups({})
    finally:
        await dispose_engines()


def _duration(seconds: float | None, lang: str) -> str:
    """shared/format.ts formatDuration, as the page shows it."""
    if seconds is None:
        return "—"
    rest = round(abs(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    zh = lang == "zh-CN"
    parts = []
    if days:
        parts.append(f"{days}天" if zh else f"{days} d")
    if hours:
        parts.append(f"{hours}小时" if zh else f"{hours} h")
    if not days and (minutes or not hours):
        parts.append(f"{minutes}分" if zh else f"{minutes} min")
    return ("" if zh else " ").join(parts)


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _kpis(body: dict[str, Any], lang: str) -> dict[str, tuple[float | None, str]]:
    """Each KPI card's test id with the API's value and the text the card must show."""
    events, iot = body["events"], body["iot"]
    return {
        "kpi-events-total": (events["total"], f"{events['total']:,}"),
        "kpi-open": (events["open"], f"{events['open']:,}"),
        "kpi-avg-accept": (events["avg_accept_s"], _duration(events["avg_accept_s"], lang)),
        "kpi-avg-resolve": (events["avg_resolve_s"], _duration(events["avg_resolve_s"], lang)),
        "kpi-on-time": (events["on_time_rate"], _rate(events["on_time_rate"])),
        "kpi-resolution": (events["resolution_rate"], _rate(events["resolution_rate"])),
        "kpi-satisfaction": (events["satisfaction_rate"], _rate(events["satisfaction_rate"])),
        "kpi-devices-online": (iot["online"], f"{iot['online']:,}"),
        "kpi-open-alarms": (iot["open_alarms"], f"{iot['open_alarms']:,}"),
    }


async def _shows(page: Page, response: Response, lang: str) -> dict[str, Any]:
    """Asserts the screen shows exactly the API's numbers for the request the page made; returns them."""
    from playwright.async_api import expect

    body = await dashboard_as_the_page_asked(page, response)
    name = body["node"]["name_en"] if lang == "en" and body["node"]["name_en"] else body["node"]["name"]
    await expect(page.get_by_test_id("command-node")).to_contain_text(name)
    for testid, (value, text) in _kpis(body, lang).items():
        card = page.get_by_test_id(testid)
        await expect(card).to_have_text(text)
        raw = await card.get_attribute("data-value")
        # Two runs of the same AVG may differ in the last bits (parallel aggregation adds in another order).
        shown = None if raw == "" else float(raw or "nan")
        assert shown == (value if value is None else pytest.approx(value, rel=1e-12)), testid
    rows = page.get_by_test_id("child-row")
    await expect(rows).to_have_count(len(body["children"]))
    for index, child in enumerate(body["children"]):
        row = rows.nth(index)
        assert await row.get_attribute("data-node-id") == str(child["node"]["id"])
        await expect(row.locator('[data-kpi="total"]')).to_have_text(f"{child['events']['total']:,}")
        await expect(row.locator('[data-kpi="open"]')).to_have_text(f"{child['events']['open']:,}")
        await expect(row.locator('[data-kpi="satisfaction"]')).to_have_text(_rate(child["events"]["satisfaction_rate"]))
    if not body["children"]:
        await expect(page.get_by_test_id("children-none")).to_be_visible()
    charts = ("chart-per-day", "chart-by-source", "chart-by-line", "chart-by-item")
    for chart in charts:
        await expect(page.get_by_test_id(chart).locator("canvas")).to_have_count(1 if body["events"]["total"] else 0)
    await expect(page.get_by_test_id("command-grafana")).to_have_count(1 if body["grafana_url"] else 0)
    return body


async def _shot(page: Page, name: str) -> None:
    await page.wait_for_timeout(300)  # the charts draw on the next frames (without animation: _still)
    await shot(page, name)


async def _still(page: Page) -> None:
    """Asks for reduced motion, as a user can: the charts then draw without their entry animation."""
    await page.emulate_media(reduced_motion="reduce")


@pytest.mark.usefixtures("events_in_the_estate")
async def test_the_district_admin_drills_down_to_an_estate_and_back_up_with_the_apis_numbers(screen: Page) -> None:
    from playwright.async_api import expect

    page = screen
    device = "phone" if page.viewport_size == PHONE else "desktop"
    ids = [node_by_name(name)[0] for name in PATH]
    async with page.expect_response(is_dashboard_response(ids[0])) as first:
        await sign_in(page, "admin@wuhou.demo")
    body = await _shows(page, await first.value, "zh-CN")
    assert body["node"]["level"] == "district" and body["breadcrumbs"] == []
    await _shot(page, f"command-district-{device}-zh")

    # Down, one clicked row at a time.
    for level, name, node_id in zip(LEVELS[1:], PATH[1:], ids[1:], strict=True):
        row = page.locator(f'[data-testid="child-row"][data-node-id="{node_id}"]')
        async with page.expect_response(is_dashboard_response(node_id)) as answer:
            await row.locator('[data-kpi="total"]').click()
        body = await _shows(page, await answer.value, "zh-CN")
        assert body["node"]["level"] == level and body["node"]["name"] == name
        assert [b["name"] for b in body["breadcrumbs"]] == PATH[: LEVELS.index(level)]
        await expect(page.get_by_test_id("node-breadcrumb").locator("[data-node-id]")).to_have_text(
            PATH[: LEVELS.index(level) + 1]
        )
        await _shot(page, f"command-{level}-{device}-zh")
    assert body["events"]["total"] >= 3 and body["events"]["resolved"] >= 1  # the test's own events

    # In English, back up by the breadcrumb, one level at a time.
    async with page.expect_response(is_dashboard_response(ids[-1])) as answer:
        await page.get_by_test_id("lang-switch").click()
        await page.get_by_test_id("command-refresh").click()
    await _shows(page, await answer.value, "en")
    await _shot(page, f"command-estate-{device}-en")
    for level, node_id in reversed(list(zip(LEVELS[:-1], ids[:-1], strict=True))):
        crumb = page.get_by_test_id("node-breadcrumb").locator(f'a[data-node-id="{node_id}"]')
        async with page.expect_response(is_dashboard_response(node_id)) as answer:
            await crumb.click()
        body = await _shows(page, await answer.value, "en")
        assert body["node"]["level"] == level
        await _shot(page, f"command-{level}-{device}-en")
    await page.get_by_test_id("lang-switch").click()

    if device == "phone":
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator(".table-box")
        assert await box.evaluate("el => el.scrollWidth > el.clientWidth")  # the table scrolls in its own box


async def test_community_staff_land_on_their_community_and_cannot_leave_it(page: Page) -> None:
    from playwright.async_api import expect

    await _still(page)
    async with page.expect_response(is_dashboard_response()) as first:
        await sign_in(page, "staff@mumianling.demo")
    body = await _shows(page, await first.value, "zh-CN")
    assert body["node"]["name"] == "木棉岭社区" and body["breadcrumbs"] == []
    crumbs = page.get_by_test_id("node-breadcrumb").locator("[data-node-id]")
    await expect(crumbs).to_have_text(["木棉岭社区"])

    grid = body["children"][0]["node"]
    async with page.expect_response(is_dashboard_response(grid["id"])) as answer:
        await page.locator(f'[data-testid="child-row"][data-node-id="{grid["id"]}"] a').click()
    await _shows(page, await answer.value, "zh-CN")
    await expect(crumbs).to_have_text(["木棉岭社区", grid["name"]])  # nothing above the community

    # The street above and a community elsewhere, named in the URL: the API's refusal, no numbers.
    for outside in ("莲塘街道", "南虹村社区"):
        node_id = node_by_name(outside)[0]
        async with page.expect_response(is_dashboard_response(node_id)) as refused:
            await page.goto(f"/#/command?node={node_id}")
        assert (await refused.value).status == 404
        await expect(page.get_by_test_id("command-error")).to_be_visible()
        await expect(page.get_by_test_id("kpi-events-total")).to_have_count(0)
        await expect(page.get_by_test_id("child-row")).to_have_count(0)
    await _shot(page, "command-outside-refused-zh")


@pytest.mark.usefixtures("events_in_the_estate")
async def test_the_window_picker_changes_the_numbers_to_the_apis_for_that_window(page: Page) -> None:
    from playwright.async_api import expect

    await _still(page)
    community = node_by_name("南虹村社区")[0]
    async with page.expect_response(is_dashboard_response(community)) as first:
        await sign_in(page, "staff@nanhong.demo")
    await _shows(page, await first.value, "zh-CN")
    shown: dict[str, dict[str, Any]] = {}
    for preset, days_back in (("today", 0), ("7d", 6), ("30d", 29)):
        async with page.expect_response(is_dashboard_response(community)) as answer:
            await page.get_by_test_id(f"window-{preset}").click()
        response = await answer.value
        params = httpx.URL(response.url).params
        assert datetime.fromisoformat(params["from"]) == shanghai_midnight(days_back)
        assert abs(datetime.fromisoformat(params["to"]) - datetime.now(UTC)) < timedelta(minutes=1)
        shown[preset] = await _shows(page, response, "zh-CN")
        assert f"window={preset}" in page.url
    # Drilling down keeps the window.
    grid = shown["30d"]["children"][0]["node"]["id"]
    async with page.expect_response(is_dashboard_response(grid)) as down:
        await page.locator(f'[data-testid="child-row"][data-node-id="{grid}"] [data-kpi="open"]').click()
    assert datetime.fromisoformat(httpx.URL((await down.value).url).params["from"]) == shanghai_midnight(29)
    await _shows(page, await down.value, "zh-CN")
    async with page.expect_response(is_dashboard_response(community)) as up:
        await page.get_by_test_id("node-breadcrumb").locator(f'a[data-node-id="{community}"]').click()
    await _shows(page, await up.value, "zh-CN")
    # The event of ten days ago counts in 30 days, not in 7 days or today.
    assert shown["30d"]["events"]["total"] >= shown["7d"]["events"]["total"] + 1
    assert shown["7d"]["events"]["total"] >= shown["today"]["events"]["total"]

    # A custom range of whole days, typed into the range picker, lands in the URL and survives a reload.
    await page.get_by_test_id("window-custom").click()
    start, end = (shanghai_midnight(12).date().isoformat(), shanghai_midnight(8).date().isoformat())
    async with page.expect_response(is_dashboard_response(community)) as answer:
        await page.locator("#command-window-start").fill(start)
        await page.locator("#command-window-end").fill(end)
        await page.locator("#command-window-end").press("Enter")
    response = await answer.value
    params = httpx.URL(response.url).params
    assert (params["from"], params["to"]) == (
        f"{start}T00:00:00+08:00",
        f"{(shanghai_midnight(7)).date().isoformat()}T00:00:00+08:00",
    )
    custom = await _shows(page, response, "zh-CN")
    assert custom["events"]["total"] >= 1  # the event of ten days ago
    assert f"from={start}" in page.url and f"to={end}" in page.url
    await _shot(page, "command-window-custom-zh")
    async with page.expect_response(is_dashboard_response(community)) as again:
        await page.reload()
    assert httpx.URL((await again.value).url).params["from"] == f"{start}T00:00:00+08:00"
    await _shows(page, await again.value, "zh-CN")
    await expect(page.get_by_test_id("window-custom")).to_have_class(re.compile("is-active"))
    await expect(page.locator("#command-window-start")).to_have_value(start)


async def test_the_grafana_link_of_the_same_level_shows_when_the_api_gives_one(page: Page) -> None:
    """The test server runs without Grafana: the API's answer is given a URL on its way to the page."""
    from playwright.async_api import Route, expect

    url = "https://grafana.example/d/linli-community?var-node=d440303.s001.c001"

    async def with_grafana(route: Route) -> None:
        answer = await route.fetch()
        await route.fulfill(response=answer, json=await answer.json() | {"grafana_url": url})

    await page.route(f"**{DASHBOARD}*", with_grafana)
    await sign_in(page, "staff@mumianling.demo")
    link = page.get_by_test_id("command-grafana")
    await expect(link).to_have_attribute("href", url)
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_contain_text("Grafana")


async def test_the_screen_refreshes_itself_every_minute_but_not_while_hidden(page: Page) -> None:
    await page.clock.install()
    async with page.expect_response(is_dashboard_response()) as first:
        await sign_in(page, "staff@mumianling.demo")
    await first.value
    async with page.expect_response(is_dashboard_response()) as again:
        await page.clock.run_for(60_000)
    await _shows(page, await again.value, "zh-CN")

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if DASHBOARD in r.url else None)
    visibility = """state => {
        Object.defineProperty(document, 'visibilityState', { value: state, configurable: true })
        document.dispatchEvent(new Event('visibilitychange'))
    }"""
    await page.evaluate(visibility, "hidden")
    await page.clock.run_for(180_000)
    await page.wait_for_timeout(300)
    assert asked == []
    async with page.expect_response(is_dashboard_response()) as back:
        await page.evaluate(visibility, "visible")  # a reload fell due meanwhile: at once
    await _shows(page, await back.value, "zh-CN")
