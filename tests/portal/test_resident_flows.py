"""The resident app end to end at 390×844 (issue 13, "How it is checked"): sign-in by a code read from the
development outbox, a 随手拍 report with a photo that staff resolve in the console with theirs, the rating
in the community's KPIs; items residents may not raise; notices by place; a switched-off service; a
certificate form approved in the console. Each step is checked in the database too."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from linli.platform.settings import get_settings
from linli.platform.sms import read_outbox
from tests.conftest import Login
from tests.photos import png
from tests.portal.conftest import shot, sign_in
from tests.portal.test_command_screen import _rate
from tests.portal.test_events_console import scalar_user
from tests.portal.test_resident_app import sign_in_to_app
from tests.tenants.support import node_by_name, superuser, tenant_id

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

RESIDENT = "13800000001"  # 悦峰尚府, 木棉岭社区
NANHONG_RESIDENT = "13800000023"  # 林荫街9号院, 南虹村社区
STAFF = "staff@mumianling.demo"
VALID_ID_NUMBER = "11010519491231002X"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "corridor.png"
    path.write_bytes(png((200, 180, 40), 640, 480))
    return path


async def newest_code(phone: str) -> str:
    """The code of the newest SMS to `phone`, read the way `linli dev sms-outbox` reads the outbox."""
    for _ in range(50):
        sent = read_outbox(Path(get_settings().sms_outbox), phone=phone, limit=1)
        if sent and "验证码 " in sent[-1]["text"]:
            return str(sent[-1]["text"].split("验证码 ", 1)[1][:6])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no code for {phone} in the outbox")


def forget_codes(number: str) -> None:
    """Codes committed by other runs or tests must not trip the per-phone and per-address limits (tested in
    tests/residentapp/test_signin.py); the outbox is cleared so the code read is this one."""
    with superuser() as conn:
        conn.execute("delete from phone_codes where phone = %s", (number,))
    Path(get_settings().sms_outbox).unlink(missing_ok=True)


async def sign_in_by_code(phone: Page, slug: str, number: str, *, signed_in: bool = True) -> None:
    from playwright.async_api import expect

    forget_codes(number)
    await phone.goto(f"/app/{slug}/")
    await phone.get_by_test_id("phone-input").locator("input").fill(number)
    await phone.get_by_test_id("code-send").click()
    await expect(phone.get_by_test_id("code-send")).to_be_disabled()  # counting down to a resend
    await phone.get_by_test_id("code-input").locator("input").fill(await newest_code(number))
    await phone.get_by_test_id("code-submit").click()
    if signed_in:
        await expect(phone.get_by_test_id("tab-home")).to_be_visible()
    forget_codes(number)  # nor may this run's codes trip them for the tests that follow


def event_row(event_id: str) -> dict[str, Any]:
    with superuser() as conn:
        row = conn.execute(
            "select status, source, item_code, reporter_id::text from events where id = %s", (event_id,)
        ).fetchone()
        photos = conn.execute(
            "select uploaded_by, content_type from event_attachments where event_id = %s order by created_at",
            (event_id,),
        ).fetchall()
        rating = conn.execute("select score from event_ratings where event_id = %s", (event_id,)).fetchone()
    assert row is not None
    return {
        "status": row[0],
        "source": row[1],
        "item": row[2],
        "reporter": row[3],
        "photos": [(p[0], p[1]) for p in photos],
        "rating": rating[0] if rating else None,
    }


async def resident_token(phone: Page) -> str:
    token: str = await phone.evaluate("sessionStorage.getItem('linli.access_token')")
    return token


async def test_a_resident_reports_a_broken_light_staff_resolve_it_and_the_rating_counts(
    phone: Page, page: Page, http: httpx.AsyncClient, login: Login, photo: Path
) -> None:
    from playwright.async_api import expect

    community, _ = node_by_name("木棉岭社区")
    estate, _ = node_by_name("悦峰尚府")
    with superuser() as conn:  # an open report of the same at the same home would merge with this one
        conn.execute(
            "update events set status = 'closed' where node_id = %s and item_code = 'ph_public_facility' "
            "and status not in ('closed', 'cancelled')",
            (estate,),
        )

    await sign_in_by_code(phone, "mumianling", RESIDENT)
    await expect(phone.get_by_test_id("app-title")).to_have_text("木棉岭社区邻里")
    await expect(phone.get_by_test_id("home-household")).to_contain_text("悦峰尚府")
    await expect(phone.get_by_test_id("home-pinned").get_by_test_id("notice-row").first).to_be_visible()
    await shot(phone, "app-home-signed-in-zh")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390

    await phone.get_by_test_id("tab-report").click()
    picker = phone.get_by_test_id("report-item")
    await expect(picker.locator('option[value="ph_public_facility"]')).to_have_count(1)
    offered = await picker.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert "sf_smoke_alarm" not in offered and "ca_streetlight_fault" in offered
    await picker.select_option("ph_public_facility")
    await expect(phone.get_by_test_id("report-promise")).to_contain_text("2小时")
    await phone.get_by_test_id("report-description").locator("textarea").fill("3楼走廊灯坏了，晚上很黑")
    await phone.get_by_test_id("report-address").locator("input").fill("3楼走廊")
    await phone.get_by_test_id("report-photo-input").set_input_files(photo)
    await expect(phone.get_by_test_id("report-photo-input-preview")).to_have_count(1)
    await shot(phone, "app-report-zh")
    await phone.get_by_test_id("report-submit").click()
    await expect(phone.get_by_test_id("report-sent")).to_be_visible()
    await expect(phone.get_by_test_id("report-resolve-by")).not_to_have_text("—")
    await shot(phone, "app-report-sent-zh")
    await phone.get_by_test_id("report-open").click()
    await phone.wait_for_url(re.compile(r"#/reports/[0-9a-f-]{36}$"))
    await expect(phone.get_by_test_id("report-status")).to_have_text("待受理")
    event_id = phone.url.rsplit("/", 1)[1]
    resident_id = scalar_user(RESIDENT)
    data = event_row(event_id)
    assert (data["status"], data["source"], data["item"], data["reporter"]) == (
        "dispatched",
        "resident_report",
        "ph_public_facility",
        resident_id,
    )
    # The photo went up resized by the browser's canvas: a JPEG, not the PNG picked.
    assert data["photos"] == [(resident_id, "image/jpeg")]

    # The API refuses what the picker does not offer.
    refused = await http.post(
        "/api/v1/app/mumianling/reports",
        json={"item": "sf_smoke_alarm", "description": "x"},
        headers={"Authorization": f"Bearer {await resident_token(phone)}"},
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "item_not_allowed_for_source"

    staff = await login(STAFF)
    before = (await http.get(f"/api/v1/dashboards/nodes/{community}", headers=staff)).json()["events"]

    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-events").click()
    await page.get_by_test_id("event-tab-pending").click()
    await page.locator(f'[data-testid="event-row"][data-event-id="{event_id}"]').click()
    detail = page.get_by_test_id("event-detail")
    await detail.get_by_test_id("event-action-accept").click()
    await expect(detail.get_by_test_id("event-status").first).to_have_text("已受理")
    fixed = photo.with_name("fixed.png")
    fixed.write_bytes(png((250, 250, 210)))
    await detail.get_by_test_id("event-attachment-input").set_input_files(fixed)
    await expect(detail.get_by_test_id("event-photo")).to_have_count(2)
    await detail.get_by_test_id("event-action-resolve").click()
    await page.get_by_test_id("event-action-dialog").get_by_test_id("event-action-submit").click()
    await expect(detail.get_by_test_id("event-status").first).to_have_text("待核查")
    assert event_row(event_id)["status"] == "resolved"

    await phone.reload()
    await expect(phone.get_by_test_id("report-status")).to_have_text("已处理，待评价")
    await expect(phone.get_by_test_id("report-handler-photo")).to_have_count(1)
    await expect(phone.get_by_test_id("report-my-photo")).to_have_count(1)
    await phone.wait_for_function(  # the handler's photo is shown, not just its frame
        "() => { const img = document.querySelector('[data-testid=report-handler-photo]');"
        " return !!img && img.complete && img.naturalWidth > 0 }"
    )
    await phone.get_by_test_id("rate-5").click()
    await phone.get_by_test_id("rate-comment").locator("textarea").fill("修得很快，谢谢")
    await shot(phone, "app-report-rate-zh")
    await phone.get_by_test_id("rate-submit").click()
    await expect(phone.get_by_test_id("report-rating")).to_be_visible()
    await expect(phone.get_by_test_id("report-status")).to_have_text("已办结")
    data = event_row(event_id)
    assert (data["status"], data["rating"]) == ("closed", 5)
    await shot(phone, "app-report-closed-zh")

    await phone.goto("/app/mumianling/#/reports")
    row = phone.locator(f'[data-testid="my-report-row"][data-report-id="{event_id}"]')
    await expect(row.get_by_test_id("report-status")).to_have_text("已办结")

    # The rating is in the community's KPIs, and the command screen shows the API's satisfaction.
    after = (await http.get(f"/api/v1/dashboards/nodes/{community}", headers=staff)).json()["events"]
    assert after["ratings"] == before["ratings"] + 1
    async with page.expect_response(lambda r: f"/api/v1/dashboards/nodes/{community}" in r.url) as answer:
        await page.goto(f"/#/command?node={community}")
    shown = (await (await answer.value).json())["events"]
    assert shown["ratings"] >= 1
    await expect(page.get_by_test_id("kpi-satisfaction")).to_have_text(_rate(shown["satisfaction_rate"]))


async def test_a_notice_published_to_an_estate_shows_only_to_residents_there(
    phone: Page, page: Page, browser: Browser, server: str
) -> None:
    from playwright.async_api import expect

    estate, _ = node_by_name("悦峰尚府")
    title = f"电梯检修通知 {uuid.uuid4().hex[:6]}"
    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-resident-notices").click()
    await page.get_by_test_id("notice-new").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_test_id("notice-title-input").fill(title)
    await dialog.get_by_test_id("notice-body-input").fill("**周五 9:00–12:00** 2 栋电梯检修。<script>alert(1)</script>")
    await dialog.locator(".place-picker").click()
    tree = page.locator(".el-select-dropdown .el-tree-node__content")
    for name in ("木棉岭社区", "木棉岭第1网格"):
        await tree.filter(has_text=name).first.locator(".el-tree-node__expand-icon").click()
    await tree.filter(has_text="悦峰尚府").first.click()
    await dialog.get_by_test_id("notice-pinned").click()
    await dialog.get_by_test_id("notice-save").click()
    await expect(dialog).to_be_hidden()
    with superuser() as conn:
        row = conn.execute("select id, node_id, status, pinned from notices where title = %s", (title,)).fetchone()
    assert row is not None and (row[1], row[2], row[3]) == (estate, "draft", True)
    notice_id = row[0]
    await (
        page.locator(f'[data-testid="notice-console-row-{notice_id}"]')
        .locator("xpath=ancestor::tr")
        .get_by_test_id("notice-publish")
        .click()
    )
    await expect(
        page.locator(f'[data-testid="notice-console-row-{notice_id}"]')
        .locator("xpath=ancestor::tr")
        .get_by_test_id("notice-console-status")
    ).to_have_text("已发布")
    await shot(page, "console-notices-zh")

    await sign_in_to_app(phone, "mumianling", RESIDENT)
    notice = phone.locator(f'[data-testid="notice-row"][data-notice-id="{notice_id}"]')
    await expect(notice).to_be_visible()  # pinned: on the home screen
    await notice.click()
    await expect(phone.get_by_test_id("notice-title")).to_have_text(title)
    await expect(phone.get_by_test_id("notice-body").locator("strong")).to_have_text("周五 9:00–12:00")
    await expect(phone.get_by_test_id("notice-body").locator("script")).to_have_count(0)
    await shot(phone, "app-notice-zh")
    with superuser() as conn:
        reads = conn.execute("select count(*) from notice_reads where notice_id = %s", (notice_id,)).fetchone()
    assert reads is not None and reads[0] == 1
    await page.reload()
    row = page.locator(f'[data-testid="notice-console-row-{notice_id}"]').locator("xpath=ancestor::tr")
    await expect(row.get_by_test_id("notice-read-count")).to_have_text("1")

    # A resident of 南虹村社区 (another tenant's app) does not see it.
    context = await browser.new_context(base_url=server, locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        neighbour = await context.new_page()
        await sign_in_to_app(neighbour, "nanhong", NANHONG_RESIDENT)
        await neighbour.goto("/app/nanhong/#/notices")
        await expect(neighbour.get_by_test_id("notice-row").first).to_be_visible()
        await expect(neighbour.get_by_text(title)).to_have_count(0)
        token = await neighbour.evaluate("sessionStorage.getItem('linli.access_token')")
        async with httpx.AsyncClient(base_url=server) as live:
            mine = await live.get(
                f"/api/v1/app/mumianling/notices/{notice_id}", headers={"Authorization": f"Bearer {token}"}
            )
        assert mine.status_code == 404
    finally:
        await context.close()


async def test_a_switched_off_report_service_leaves_the_app_and_its_endpoint_refuses(
    phone: Page, http: httpx.AsyncClient, login: Login
) -> None:
    from playwright.async_api import expect

    staff = await login(STAFF)
    path = f"/api/v1/tenants/{tenant_id('mumianling')}/services/prop_facility"
    await sign_in_to_app(phone, "mumianling", RESIDENT)
    await expect(phone.get_by_test_id("service-prop_facility")).to_have_count(1)
    assert (await http.patch(path, json={"enabled": False}, headers=staff)).status_code == 200
    try:
        await phone.reload()
        await expect(phone.get_by_test_id("service-prop_repair")).to_have_count(1)
        await expect(phone.get_by_test_id("service-prop_facility")).to_have_count(0)
        refused = await http.post(
            "/api/v1/app/mumianling/reports",
            json={"service": "prop_facility", "description": "x"},
            headers={"Authorization": f"Bearer {await resident_token(phone)}"},
        )
        assert refused.status_code in (403, 404), refused.text
        with superuser() as conn:
            enabled = conn.execute(
                "select enabled from tenant_services where tenant_id = %s and service_code = 'prop_facility'",
                (tenant_id("mumianling"),),
            ).fetchone()
        assert enabled is not None and enabled[0] is False
    finally:
        await http.patch(path, json={"enabled": True}, headers=staff)


async def test_a_certificate_form_approved_in_the_console_shows_approved_to_the_resident(
    phone: Page, page: Page
) -> None:
    from playwright.async_api import expect

    await sign_in_to_app(phone, "mumianling", RESIDENT)
    await phone.get_by_test_id("tab-services").click()
    await phone.get_by_test_id("service-gov_certificate").click()
    await phone.get_by_test_id("form-field-certificate_type").select_option("residence")
    await phone.get_by_test_id("form-field-applicant_name").locator("input").fill("李悦")
    await phone.get_by_test_id("form-field-id_number").locator("input").fill(VALID_ID_NUMBER)
    await phone.get_by_test_id("form-field-purpose").locator("input").fill("子女入学")
    # Masked once typed: the number shows only while its field has the focus.
    await expect(phone.get_by_test_id("form-field-id_number").locator("input")).to_have_attribute("type", "password")
    await phone.get_by_test_id("form-field-copies").locator("input").fill("1")
    await shot(phone, "app-form-zh")
    await phone.get_by_test_id("form-submit").click()
    await phone.wait_for_url(re.compile(r"#/cases/[0-9]+$"))
    status = phone.get_by_test_id("case-status")
    await expect(status).to_have_attribute("data-status", "submitted")
    case_id = int(phone.url.rsplit("/", 1)[1])
    with superuser() as conn:
        row = conn.execute(
            "select status, service_code, values::text from form_cases where id = %s", (case_id,)
        ).fetchone()
    assert row is not None and row[:2] == ("submitted", "gov_certificate")
    assert VALID_ID_NUMBER not in row[2]  # identity numbers are stored encrypted

    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-form-cases").click()
    await page.locator(f'[data-testid="form-case-row"][data-case-id="{case_id}"]').click()
    drawer = page.get_by_test_id("case-drawer")
    await expect(drawer.get_by_test_id("case-console-status")).to_have_text("待审核")
    await shot(page, "console-case-zh", full_page=False)
    await page.get_by_test_id("case-approve").click()
    await expect(drawer.get_by_test_id("case-console-status")).to_have_attribute("data-status", "approved")
    with superuser() as conn:
        decided = conn.execute(
            "select status, decided_at is not null from form_cases where id = %s", (case_id,)
        ).fetchone()
    assert decided == ("approved", True)

    await phone.reload()
    await expect(status).to_have_attribute("data-status", "approved")
    await expect(status).to_have_text("已通过")
    await shot(phone, "app-case-approved-zh")


async def test_an_unknown_phone_asks_to_join_and_staff_approve_it_in_the_console(phone: Page, page: Page) -> None:
    from playwright.async_api import expect

    number = f"1390{uuid.uuid4().int % 10_000_000:07d}"
    await sign_in_by_code(phone, "mumianling", number, signed_in=False)
    join = phone.get_by_test_id("join")
    await expect(join).to_be_visible()
    await join.get_by_test_id("join-name").locator("input").fill("张新")
    await join.get_by_test_id("join-place").click()
    options = phone.locator(".van-cascader__option")
    for name in ("悦峰尚府", "1栋", "1单元"):
        await options.filter(has_text=name).first.click()
    await expect(join.get_by_test_id("join-place").locator("input")).to_have_value("悦峰尚府 · 1栋 · 1单元")
    await join.get_by_test_id("join-room").locator("input").fill("1203")
    await shot(phone, "app-join-zh")
    await join.get_by_test_id("join-submit").click()
    await expect(join.get_by_test_id("join-status")).to_contain_text("审核中")
    with superuser() as conn:
        row = conn.execute("select id, status, name, room from join_requests where phone = %s", (number,)).fetchone()
    assert row is not None and row[1:] == ("pending", "张新", "1203")

    await sign_in(page, STAFF)
    await page.get_by_test_id("menu-join-requests").click()
    request = page.locator(f'[data-testid="join-request-row"][data-request-id="{row[0]}"]').locator(
        "xpath=ancestor::tr"
    )
    await expect(request).to_contain_text("悦峰尚府 · 1栋 · 1单元 · 1203")
    await shot(page, "console-join-requests-zh")
    await request.get_by_test_id("join-approve").click()
    await page.get_by_role("dialog").get_by_role("button", name="通过").click()
    await expect(request).to_have_count(0)  # it left the 待审核 list
    with superuser() as conn:
        decided = conn.execute(
            "select status, person_id is not null from join_requests where id = %s", (row[0],)
        ).fetchone()
    assert decided == ("approved", True)

    # Approved, the same phone now signs in as a resident of 悦峰尚府.
    await sign_in_by_code(phone, "mumianling", number)
    await expect(phone.get_by_test_id("home-household")).to_contain_text("悦峰尚府")


async def test_the_report_form_and_my_requests_read_in_english(phone: Page) -> None:
    from playwright.async_api import expect

    await sign_in_to_app(phone, "mumianling", RESIDENT)
    await phone.get_by_test_id("lang-switch").click()
    await phone.get_by_test_id("tab-report").click()
    picker = phone.get_by_test_id("report-item")
    await expect(picker.locator('option[value="ph_public_facility"]')).to_have_text("Public facility damaged")
    await picker.select_option("ph_public_facility")
    await expect(phone.get_by_test_id("report-promise")).to_contain_text("Accepted within 2 h")
    await expect(phone.get_by_test_id("report-submit")).to_have_text("Send")
    # Elsewhere in the estate: its buildings and units (the home is the default).
    location = phone.get_by_test_id("report-location")
    await expect(location.locator("option").first).to_have_text("Where I live")
    await expect(location.locator("option", has_text="1栋 · 1单元")).to_have_count(1)
    await shot(phone, "app-report-en")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.goto("/app/mumianling/#/reports")
    await expect(phone.get_by_role("tab", name="Applications")).to_be_visible()
    await expect(phone.get_by_role("tab", name="Reports")).to_be_visible()
    await shot(phone, "app-my-reports-en")
