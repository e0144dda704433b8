"""The events centre in the console (issue 11, items 3 and 5): the list, the detail with the actions the
API allows, photo upload, ratings, the read-only auditor, a grid worker on a phone and the hand-entered
hotline event — driven in Chromium against the real server, checked in the database afterwards."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import Login
from tests.events.test_intake_and_delivery import RESIDENT, integration_key, signed
from tests.photos import png
from tests.portal.conftest import (
    DASHBOARD,
    dashboard_as_the_page_asked,
    is_dashboard_response,
    shanghai_midnight,
    shot,
    sign_in,
)
from tests.tenants.support import node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

STAFF = "staff@mumianling.demo"
GRID = "grid@mumianling.demo"
AUDITOR = "auditor@wuhou.demo"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "after.png"
    path.write_bytes(png())
    return path


def here() -> str:
    """A building name no other test uses: the same item at the same place would merge (duplicates)."""
    return f"测{uuid.uuid4().hex[:6]}栋"


async def ai_garbage_overflow(http: httpx.AsyncClient, login: Login) -> dict[str, Any]:
    """A garbage overflow detected by AI video at 悦峰尚府, routed and dispatched like any detection."""
    community, _ = node_by_name("木棉岭社区")
    estate, _ = node_by_name("悦峰尚府")
    key = await integration_key(http, login, community, source="ai_video")
    raw = json.dumps(
        {
            "detection_id": f"det-{uuid.uuid4()}",
            "type": "garbage_overflow",
            "confidence": 0.94,
            "node_id": estate,
            "camera_id": "cam-07",
            "location": {"building": here()},
            "snapshot": base64.b64encode(png((120, 90, 60))).decode(),
        }
    ).encode()
    created = await http.post("/api/v1/events/ai-detections", content=raw, headers=signed(key, raw))
    assert created.status_code == 201, created.text
    event = created.json()["event"]
    assert event["status"] == "dispatched" and event["source"] == "ai_video"
    return dict(event)


def stored(event_id: str) -> dict[str, Any]:
    with superuser() as conn:
        row = conn.execute(
            "select status, source, node_id, location, handler_unit_id from events where id = %s", (event_id,)
        ).fetchone()
        photos = conn.execute(
            "select id::text, uploaded_by from event_attachments where event_id = %s order by created_at", (event_id,)
        ).fetchall()
        timeline = conn.execute(
            "select action, attachments::text[] from event_timeline where event_id = %s order by id", (event_id,)
        ).fetchall()
    assert row is not None
    return {
        "status": row[0],
        "source": row[1],
        "node_id": row[2],
        "location": row[3],
        "handler_unit_id": row[4],
        "photos": [(p[0], p[1]) for p in photos],
        "timeline": [(t[0], list(t[1])) for t in timeline],
    }


async def api_get(page: Page, url: str) -> dict[str, Any]:
    """What the API answers the signed-in user (with the page's own token)."""
    answer: dict[str, Any] = await page.evaluate(
        """async (url) => (await fetch(url, {
             headers: { Authorization: 'Bearer ' + sessionStorage.getItem('linli.access_token') } })).json()""",
        url,
    )
    return answer


async def switch_language(page: Page) -> None:
    await page.get_by_test_id("lang-switch").click()


async def test_the_list_shows_new_events_without_a_reload_and_filters_by_source(
    page: Page, http: httpx.AsyncClient, login: Login
) -> None:
    from playwright.async_api import expect

    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-events").click()
    rows = page.get_by_test_id("event-row")
    await expect(page.get_by_test_id("event-list")).to_be_visible()
    event = await ai_garbage_overflow(http, login)
    row = page.locator(f'[data-testid="event-row"][data-event-id="{event["id"]}"]')
    # No reload: the list polls (at most every 10 s) and the detection appears at the top.
    await expect(row).to_be_visible(timeout=15_000)
    await expect(rows.first).to_have_attribute("data-event-id", event["id"])
    await expect(row.get_by_test_id("event-item")).to_have_text("垃圾满溢")
    await expect(row.get_by_test_id("event-status")).to_have_text("待受理")
    await expect(row.get_by_test_id("event-source")).to_have_text("AI视频")
    await expect(row.get_by_test_id("event-place")).to_contain_text("悦峰尚府")
    await expect(row.get_by_test_id("event-deadline")).to_contain_text("受理")
    await shot(page, "events-list-zh", full_page=False)
    # Newest first, a page at a time: "load more" adds the next page below.
    first_page = await rows.count()
    await page.get_by_test_id("event-more").click()
    await expect(rows.nth(first_page)).to_be_visible()

    await page.get_by_test_id("event-filter-source").click()
    await page.locator(".el-select-dropdown__item", has_text="12345热线").click()
    await expect(row).to_have_count(0)
    await expect(rows.get_by_test_id("event-source").filter(has_not_text="12345热线")).to_have_count(0)

    await switch_language(page)
    await expect(page.get_by_test_id("event-tab-pending")).to_contain_text("To accept")
    await shot(page, "events-list-en", full_page=False)


async def test_a_hotline_call_entered_in_the_form_is_created_at_the_chosen_place(
    page: Page, http: httpx.AsyncClient
) -> None:
    from playwright.async_api import expect

    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-events").click()
    await page.get_by_test_id("event-new").click()
    await page.get_by_test_id("event-new-source-hotline").click()
    await page.get_by_test_id("event-new-item").click()
    await page.locator(".el-select-dropdown__item", has_text="商家扰民").click()
    await page.get_by_test_id("event-new-place").click()
    menu = page.locator(".event-place-popper .el-cascader-node")
    for name in ("木棉岭第1网格", "悦峰尚府", "2栋", "1单元"):
        await menu.filter(has_text=name).first.click()
    await expect(page.get_by_test_id("event-new-place").locator("input")).to_have_value(
        "木棉岭第1网格 / 悦峰尚府 / 2栋 / 1单元"
    )
    description = f"楼下烧烤店深夜噪音 {uuid.uuid4().hex[:6]}"
    await page.get_by_test_id("event-new-description").fill(description)
    await page.get_by_test_id("event-new-reporter").fill("王先生")
    await page.get_by_test_id("event-new-ref").fill(f"12345-{uuid.uuid4().hex[:8]}")
    await shot(page, "events-new-zh", full_page=False)
    await page.get_by_test_id("event-new-submit").click()

    detail = page.get_by_test_id("event-detail")
    await expect(detail.get_by_test_id("event-detail-place")).to_have_text("悦峰尚府 · 2栋 · 1单元")
    event_id = page.url.split("/events/")[1].split("?")[0]
    estate, _ = node_by_name("悦峰尚府")
    data = stored(event_id)
    assert data["source"] == "hotline" and data["node_id"] == estate
    assert data["location"] == {"building": "2栋", "unit": "1单元"}
    assert data["status"] == "dispatched"
    await expect(detail.get_by_test_id("event-status").first).to_have_text("待受理")


async def report(
    http: httpx.AsyncClient, headers: dict[str, str], item: str, node: str, building: str | None = None
) -> dict[str, Any]:
    """An event reported through the API (a resident's report, a patrol), by default at a place no other
    test uses; at the place of an open event of the same item it merges into that one."""
    node_id, _ = node_by_name(node)
    body = {"item": item, "node_id": node_id, "location": {"building": building or here()}}
    created = await http.post("/api/v1/events", json=body, headers=headers)
    assert created.status_code == (200 if building else 201), created.text
    return dict(created.json())


async def open_event(page: Page, event_id: str) -> None:
    """The event's own address opens the list with its detail."""
    from playwright.async_api import expect

    await page.goto(f"/#/events/{event_id}")
    await expect(page.get_by_test_id("event-detail").get_by_test_id("event-status").first).to_be_visible()


async def test_staff_take_an_ai_garbage_overflow_from_dispatched_to_resolved_with_a_photo(
    page: Page, http: httpx.AsyncClient, login: Login, photo: Path
) -> None:
    from playwright.async_api import expect

    event = await ai_garbage_overflow(http, login)
    # A resident reports the same overflow: merged into the detection ("also reported by").
    merged = await report(http, await login(RESIDENT), "ca_garbage_overflow", "悦峰尚府", event["location"]["building"])
    assert merged["id"] == event["id"] and merged["merged"]
    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-events").click()
    await page.get_by_test_id("event-tab-pending").click()
    await page.locator(f'[data-testid="event-row"][data-event-id="{event["id"]}"]').click()
    detail = page.get_by_test_id("event-detail")
    status = detail.get_by_test_id("event-status").first
    await expect(status).to_have_text("待受理")
    await expect(detail.get_by_test_id("event-photo")).to_have_count(1)  # the camera's snapshot
    await expect(detail.get_by_test_id("event-also-reported")).to_contain_text("悦峰尚府居民")
    await expect(detail.get_by_test_id("event-also-reported")).to_contain_text("居民上报")
    # Exactly the transitions the API allows this user now are buttons (resolve only after accepting).
    allowed = await api_get(page, f"/api/v1/events/{event['id']}")
    buttons = await detail.locator('footer [data-testid^="event-action-"]').evaluate_all(
        "els => els.map(e => e.dataset.testid.slice('event-action-'.length))"
    )
    assert sorted(buttons) == sorted(set(allowed["allowed_actions"]) - {"comment", "attach", "rate"})
    assert "accept" in buttons and "resolve" not in buttons
    await shot(page, "events-detail-zh", full_page=False)

    await detail.get_by_test_id("event-action-accept").click()
    await expect(status).to_have_text("已受理")
    await detail.get_by_test_id("event-action-resolve").click()
    dialog = page.get_by_test_id("event-action-dialog")
    await dialog.get_by_test_id("event-action-submit").click()
    # Refused without a photo of the result: the API's own message, and nothing changed.
    await expect(dialog.get_by_test_id("event-action-error")).to_contain_text("needs a photo")
    assert stored(event["id"])["status"] == "accepted"
    await dialog.get_by_role("button", name="取消").click()

    await detail.get_by_test_id("event-attachment-input").set_input_files(photo)
    await expect(detail.get_by_test_id("event-photo")).to_have_count(2)
    await detail.get_by_test_id("event-action-resolve").click()
    await expect(dialog.locator(".el-checkbox.is-checked")).to_have_count(1)  # the new photo, ticked
    await dialog.get_by_test_id("event-action-submit").click()
    await expect(status).to_have_text("待核查")
    await expect(detail.get_by_test_id("event-action-resolve")).to_have_count(0)

    data = stored(event["id"])
    assert data["status"] == "resolved"
    staff_id = str(scalar_user(STAFF))
    uploaded = [pid for pid, by in data["photos"] if by == staff_id]
    assert len(uploaded) == 1 and len(data["photos"]) == 2
    assert ("resolve", uploaded) in data["timeline"]
    await shot(page, "events-detail-resolved-zh", full_page=False)
    await detail.get_by_test_id("event-detail-close").click()
    row = page.locator(f'[data-testid="event-row"][data-event-id="{event["id"]}"]')
    await expect(row).to_have_count(0)  # it left the 待受理 tab
    await switch_language(page)
    await page.get_by_test_id("event-tab-review").click()
    await row.click()
    await expect(status).to_have_text("To verify")
    await shot(page, "events-detail-en", full_page=False)


def scalar_user(login: str) -> str:
    with superuser() as conn:
        row = conn.execute("select id::text from users where email = %s or phone = %s", (login, login)).fetchone()
    assert row is not None
    return str(row[0])


async def test_the_reporters_rating_shows_in_the_detail_and_on_the_command_screen(
    page: Page, http: httpx.AsyncClient, login: Login
) -> None:
    from playwright.async_api import expect

    resident, staff = await login(RESIDENT), await login(STAFF)
    estate_id, _ = node_by_name("悦峰尚府")
    today = {"from": shanghai_midnight(0).isoformat()}
    before = await http.get(f"{DASHBOARD}{estate_id}", params=today, headers=staff)
    assert before.status_code == 200, before.text
    event = await report(http, resident, "ca_garbage_overflow", "悦峰尚府")
    url = f"/api/v1/events/{event['id']}"
    upload = await http.post(f"{url}/attachments", files={"file": ("after.png", png(), "image/png")}, headers=staff)
    assert upload.status_code == 201, upload.text
    steps = ({"action": "accept"}, {"action": "resolve", "attachments": [upload.json()["id"]]}, {"action": "close"})
    for step in steps:
        moved = await http.post(f"{url}/transitions", json=step, headers=staff)
        assert moved.status_code == 200, moved.text
    rated = await http.post(f"{url}/rating", json={"score": 4, "comment": "清理及时，点赞"}, headers=resident)
    assert rated.status_code == 201, rated.text

    await sign_in(page, STAFF)
    await open_event(page, event["id"])
    rating = page.get_by_test_id("event-detail").get_by_test_id("event-rating")
    await expect(rating.get_by_test_id("event-rating-score")).to_have_attribute("data-score", "4")
    await expect(rating).to_contain_text("清理及时，点赞")
    await expect(page.get_by_test_id("event-detail").get_by_test_id("event-status").first).to_have_text("已办结")

    # Today's numbers are computed live (only finished days come from the rollup): the rating counts at once.
    async with page.expect_response(is_dashboard_response(estate_id)) as shown:
        await page.goto(f"/#/command?node={estate_id}&window=today")
    after = await dashboard_as_the_page_asked(page, await shown.value)
    was, now = before.json()["events"], after["events"]
    assert now["ratings"] == was["ratings"] + 1
    assert now["avg_rating"] == pytest.approx((was["ratings"] * (was["avg_rating"] or 0) + 4) / now["ratings"])
    card = page.get_by_test_id("kpi-satisfaction")
    await expect(card).to_have_text(f"{now['satisfaction_rate'] * 100:.1f}%")
    await shot(page, "command-after-rating-zh", full_page=False)


async def test_the_auditor_sees_events_but_no_action_and_a_forged_transition_is_403(
    page: Page, http: httpx.AsyncClient, login: Login
) -> None:
    from playwright.async_api import expect

    event = await report(http, await login("staff@nanhong.demo"), "ca_garbage_overflow", "南虹村社区")
    await sign_in(page, AUDITOR)
    await page.get_by_test_id("menu-events").click()
    row = page.locator(f'[data-testid="event-row"][data-event-id="{event["id"]}"]')
    await expect(row).to_be_visible()
    await expect(page.get_by_test_id("event-new")).to_have_count(0)
    await row.click()
    detail = page.get_by_test_id("event-detail")
    await expect(detail.get_by_test_id("event-status").first).to_have_text("待受理")
    await expect(detail.get_by_test_id("event-timeline")).to_be_visible()
    await expect(detail.locator('[data-testid^="event-action-"]')).to_have_count(0)
    await expect(detail.get_by_test_id("event-attachment-input")).to_have_count(0)
    await shot(page, "events-detail-auditor-zh", full_page=False)

    forged = await page.evaluate(
        """async (id) => {
             const r = await fetch(`/api/v1/events/${id}/transitions`, {
               method: 'POST',
               headers: { 'Content-Type': 'application/json',
                          Authorization: 'Bearer ' + sessionStorage.getItem('linli.access_token') },
               body: JSON.stringify({ action: 'accept' }) })
             return [r.status, (await r.json()).error.code] }""",
        event["id"],
    )
    assert forged[0] == 403, forged
    assert stored(event["id"])["status"] == "dispatched"


async def test_a_grid_worker_on_a_phone_opens_an_event_adds_a_photo_and_accepts_it(
    phone: Page, http: httpx.AsyncClient, login: Login, photo: Path
) -> None:
    from playwright.async_api import expect

    # A rental check found on patrol goes to the grid's own worker.
    event = await report(http, await login(STAFF), "po_rental_registration", "悦峰尚府")
    assert event["handler"]["kind"] == "grid_worker", event["handler"]
    await sign_in(phone, GRID)
    await phone.get_by_role("button", name="打开菜单").click()
    await phone.get_by_role("menuitem", name="事件中心").click()
    row = phone.locator(f'[data-testid="event-row"][data-event-id="{event["id"]}"]')
    await expect(row).to_be_visible()
    await expect(phone.locator(".el-overlay:visible")).to_have_count(0)  # the menu has slid away
    await shot(phone, "events-list-phone-zh", full_page=False)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await row.click()
    detail = phone.get_by_test_id("event-detail")
    await expect(detail.get_by_test_id("event-status").first).to_have_text("待受理")
    box = await detail.get_by_test_id("event-action-accept").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44
    camera = detail.get_by_test_id("event-attachment-input")
    assert await camera.get_attribute("accept") == "image/*" and await camera.get_attribute("capture") == "environment"
    await camera.set_input_files(photo)
    await expect(detail.get_by_test_id("event-photo")).to_have_count(1)
    await shot(phone, "events-detail-phone-zh", full_page=False)
    await detail.get_by_test_id("event-action-accept").click()
    await expect(detail.get_by_test_id("event-status").first).to_have_text("已受理")

    data = stored(event["id"])
    assert data["status"] == "accepted"
    assert [by for _, by in data["photos"]] == [scalar_user(GRID)]
    await detail.get_by_test_id("event-detail-close").click()
    await expect(row.get_by_test_id("event-status")).to_have_text("已受理")
    await switch_language(phone)
    await expect(row.get_by_test_id("event-status")).to_have_text("Accepted")
    await shot(phone, "events-list-phone-en", full_page=False)
    await row.click()
    await expect(detail.get_by_test_id("event-status").first).to_have_text("Accepted")
    await shot(phone, "events-detail-phone-en", full_page=False)


async def test_staff_reject_with_a_reason_dispatch_to_a_unit_and_comment(
    page: Page, http: httpx.AsyncClient, login: Login
) -> None:
    from playwright.async_api import expect

    event = await report(http, await login(STAFF), "ca_garbage_overflow", "悦峰尚府")
    assert event["handler"]["name"] == "悦峰尚府物业服务中心"
    await sign_in(page, STAFF)
    await open_event(page, event["id"])
    detail, dialog = page.get_by_test_id("event-detail"), page.get_by_test_id("event-action-dialog")
    handler = detail.get_by_test_id("event-detail-handler")

    await detail.get_by_test_id("event-action-reject").click()
    await dialog.get_by_test_id("event-action-submit").click()
    await expect(dialog.get_by_test_id("event-action-error")).to_contain_text("say why")
    await dialog.get_by_test_id("event-action-note").fill("不属于物业管理范围")
    await dialog.get_by_test_id("event-action-submit").click()
    await expect(handler).to_have_text("木棉岭社区工作站")  # rejected: back to the community staff

    await detail.get_by_test_id("event-action-dispatch").click()
    await dialog.get_by_test_id("event-dispatch-unit").click()
    await page.locator(".el-select-dropdown__item", has_text="悦峰尚府物业服务中心").click()
    await dialog.get_by_test_id("event-action-submit").click()
    await expect(handler).to_have_text("悦峰尚府物业服务中心")

    await detail.get_by_test_id("event-comment").fill("请今天下班前处理")
    await detail.get_by_test_id("event-action-comment").click()
    await expect(detail.get_by_test_id("event-timeline")).to_contain_text("请今天下班前处理")

    data = stored(event["id"])
    assert data["status"] == "dispatched" and data["handler_unit_id"] == event["handler"]["unit_id"]
    assert [a for a, _ in data["timeline"]][-3:] == ["reject", "dispatch", "comment"]
