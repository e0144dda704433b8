"""The console's administration pages in Chromium: the auditor's workspace (filter, export, verify), no
enabled control that writes on any page an auditor reaches (and a forged write refused), the routing
tester agreeing with the routing service, and a masked resident search; checked against the database."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from linli.platform.catalogs import load
from linli.platform.masking import mask_name, mask_phone
from tests.portal.conftest import shot, sign_in
from tests.portal.test_alarms_devices import no_sideways_scroll, settled
from tests.tenants.support import WUHOU, node_by_name, scalar, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

AUDITOR = "auditor@wuhou.demo"
GRID = "grid@mumianling.demo"
# What a control that changes something says; none may be an enabled button on an auditor's page.
WRITING_WORDS = re.compile(
    r"新建|删除|保存|编辑|添加|确认告警|创建|登记|导入|发送|撤销|停用|提交|Create|Delete|Save|Edit|Add"
)


async def test_the_auditor_filters_the_log_by_action_exports_it_and_verifies_the_chains(page: Page) -> None:
    from playwright.async_api import expect

    action = "grant.create"
    expected = scalar("select count(*) from audit_log where node_path <@ %s::ltree and action = %s", WUHOU, action)
    assert 0 < expected <= 50
    await sign_in(page, AUDITOR)
    await expect(page.get_by_test_id("readonly-banner")).to_be_visible()
    await page.get_by_test_id("menu-audit").click()
    await expect(page.get_by_test_id("audit-row").first).to_be_visible()
    await page.get_by_label("操作", exact=True).fill(action)
    await page.get_by_label("操作", exact=True).press("Enter")
    await expect(page.get_by_test_id("audit-row")).to_have_count(expected)
    for title in await page.get_by_test_id("audit-open").all_inner_texts():
        assert title == action
    await page.get_by_test_id("audit-open").first.click()
    await expect(page.get_by_test_id("audit-after")).to_contain_text("role")
    await shot(page, "audit-entry-zh", full_page=False)
    await page.keyboard.press("Escape")

    exports_before = scalar("select count(*) from audit_log where action = 'audit.export'")
    async with page.expect_download() as download_info:
        await page.get_by_test_id("audit-export").click()
    download = await download_info.value
    text = (await download.path()).read_text(encoding="utf-8-sig")  # type: ignore[union-attr]
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,chain,seq") and len(lines) == expected + 1
    assert all(f",{action}," in line for line in lines[1:])
    with superuser() as conn:
        row = conn.execute(
            "select after from audit_log where action = 'audit.export' order by id desc limit 1"
        ).fetchone()
    assert scalar("select count(*) from audit_log where action = 'audit.export'") == exports_before + 1
    assert row is not None and row[0] == {"rows": expected, "filters": {"action": action, "within": WUHOU}}

    await page.get_by_test_id("audit-verify").click()
    chains = scalar("select count(*) from audit_heads where chain <@ %s::ltree", WUHOU)
    await expect(page.get_by_test_id("audit-chain")).to_have_count(chains)
    await expect(page.locator("[data-testid=audit-chain][data-ok=false]")).to_have_count(0)
    await expect(page.get_by_test_id("audit-verify-result")).to_contain_text(f"全部 {chains} 条链完好")
    await settled(page, "audit-verified-zh")
    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("audit-verify")).to_have_text("Verify hash chains")
    await page.get_by_test_id("audit-verify").click()
    await expect(page.get_by_test_id("audit-verify-result")).to_contain_text(f"All {chains} chains intact")
    await settled(page, "audit-verified-en")


async def test_no_page_the_auditor_reaches_has_an_enabled_control_that_writes(phone: Page) -> None:
    from playwright.async_api import expect

    await sign_in(phone, AUDITOR)
    await expect(phone.get_by_test_id("readonly-banner")).to_be_visible()
    await phone.get_by_role("button", name="打开菜单").click()
    pages = [
        name for name in await phone.get_by_role("dialog").get_by_role("menuitem").all_inner_texts() if name.strip()
    ]
    await phone.keyboard.press("Escape")
    assert {"审计日志", "居民档案", "派单规则"} <= set(pages), pages
    for name in pages:
        await phone.get_by_role("button", name="打开菜单").click()
        await phone.get_by_role("dialog").get_by_role("menuitem", name=name, exact=True).click()
        await expect(phone.get_by_test_id("readonly-banner")).to_be_visible()
        await expect(phone.locator(".el-loading-mask")).to_have_count(0)
        for button in await phone.locator("main button:enabled, section button:enabled").all():
            if await button.is_visible():
                label = (await button.inner_text()) or (await button.get_attribute("aria-label")) or ""
                assert not WRITING_WORDS.search(label), f"{name}: {label}"
        # Inputs are only filters: no form that edits anything is on the page.
        for form in ("person-form", "routing-rule-form", "unit-form", "command-form", "device-form"):
            await expect(phone.get_by_test_id(form)).to_have_count(0)
        await no_sideways_scroll(phone)
    await settled(phone, "auditor-last-page-phone-zh")

    nanhong_id, _ = node_by_name("南虹村社区")
    rules_before = scalar("select count(*) from routing_rules")
    unit_id = scalar("select min(id) from handler_units where node_path <@ %s::ltree", WUHOU)
    statuses = await phone.evaluate(
        """async ([node, unit]) => {
             const headers = { Authorization: 'Bearer ' + sessionStorage.getItem('linli.access_token'),
                               'Content-Type': 'application/json' }
             const rule = await fetch('/api/v1/routing-rules', { method: 'POST', headers,
               body: JSON.stringify({ node_id: node, line: 'city_appearance', handler_unit_id: unit }) })
             const member = await fetch(`/api/v1/handler-units/${unit}/members`, { method: 'POST', headers,
               body: JSON.stringify({ user_id: '00000000-0000-0000-0000-000000000000' }) })
             return [rule.status, member.status]
           }""",
        [nanhong_id, unit_id],
    )
    assert statuses == [403, 403]
    assert scalar("select count(*) from routing_rules") == rules_before


async def test_the_routing_tester_names_the_unit_the_routing_service_chooses(page: Page) -> None:
    from playwright.async_api import expect

    estate_id, estate_path = node_by_name("悦峰尚府")
    item = next(i for line in load("event_taxonomy")["lines"] for i in line["items"] if i["code"] == "ca_road_damage")
    line = next(li["code"] for li in load("event_taxonomy")["lines"] if item in li["items"])
    with superuser() as conn:
        # The routing service's own resolution (what dispatch calls), in the whole tree's scope.
        conn.execute("select set_config('linli.scopes', '{\"\"}', false)")
        chosen = conn.execute(
            "select handler_unit_id, name from linli_event_dispatch(%s, %s, %s, %s::ltree)",
            (item["code"], line, item["handler"], estate_path),
        ).fetchone()
    assert chosen is not None and chosen[0] is not None
    await sign_in(page, "staff@mumianling.demo")
    await page.goto(f"/#/routing?node={estate_id}")
    await page.get_by_label("事项", exact=True).first.click()
    await page.get_by_role("option", name=item["name"]["zh"], exact=True).click()
    await page.get_by_test_id("routing-test").click()
    result = page.get_by_test_id("routing-test-result")
    await expect(result).to_have_attribute("data-unit-id", str(chosen[0]))
    await expect(page.get_by_test_id("routing-test-unit")).to_contain_text(chosen[1])
    await settled(page, "routing-tester-zh")
    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("routing-test")).to_have_text("Check")
    await page.get_by_test_id("routing-test").click()
    await expect(page.get_by_test_id("routing-test-unit")).to_contain_text(f"Goes to: {chosen[1]}")
    await settled(page, "routing-tester-en")


async def test_an_administrator_creates_a_handler_unit_at_an_estate(page: Page) -> None:
    from playwright.async_api import expect

    estate_id, estate_path = node_by_name("悦峰尚府")
    name = f"悦峰尚府电梯维保 {uuid.uuid4().hex[:6]}"
    await sign_in(page, "admin@luohu.demo")
    await page.goto(f"/#/routing?node={estate_id}")
    await page.get_by_test_id("unit-kind").click()
    await page.get_by_role("option", name="维保单位", exact=True).click()
    await page.get_by_test_id("unit-name").fill(name)
    await page.get_by_test_id("unit-create").click()
    row = page.get_by_test_id("handler-unit-row").filter(has_text=name)
    await expect(row).to_contain_text("维保单位")
    with superuser() as conn:
        stored = conn.execute(
            "select kind, node_path::text, active from handler_units where name = %s", (name,)
        ).fetchone()
        conn.execute("delete from handler_units where name = %s", (name,))
    assert stored == ("maintenance", estate_path, True)


async def test_a_resident_search_by_part_of_a_name_shows_the_rows_masked(phone: Page) -> None:
    from playwright.async_api import expect

    grid_path = "d440303.s005.c001.g01"
    with superuser() as conn:
        found = conn.execute(
            "select name from people where node_path <@ %s::ltree and char_length(name) = 3 order by id limit 1",
            (grid_path,),
        ).fetchone()
    assert found is not None
    part = str(found[0])[1:]
    await sign_in(phone, GRID)
    await phone.get_by_role("button", name="打开菜单").click()
    await phone.get_by_role("dialog").get_by_role("menuitem", name="居民档案").click()
    await phone.get_by_label("姓名（可输入部分）").fill(part)
    async with phone.expect_response(lambda r: "/api/v1/residents?" in r.url and "q=" in r.url):
        await phone.get_by_test_id("resident-search-submit").click()
    await expect(phone.locator(".el-button.is-loading")).to_have_count(0)
    rows = phone.get_by_test_id("resident-row")
    await expect(rows.first).to_be_visible()
    count = await rows.count()
    assert count > 0
    for index in range(count):
        row = rows.nth(index)
        person_id = int(await row.get_attribute("data-person-id") or 0)
        with superuser() as conn:
            stored = conn.execute("select name, phone from people where id = %s", (person_id,)).fetchone()
        assert stored is not None and part in stored[0]
        await expect(row.get_by_test_id("resident-name")).to_have_text(mask_name(stored[0]))
        await expect(row.get_by_test_id("resident-phone")).to_have_text(mask_phone(stored[1]) or "—")
        await expect(row.get_by_test_id("resident-masked")).to_be_visible()
    await expect(phone.get_by_text(str(found[0]), exact=True)).to_have_count(0)
    await no_sideways_scroll(phone)
    await settled(phone, "residents-search-phone-zh")
    await phone.get_by_test_id("lang-switch").click()
    await expect(phone.get_by_test_id("resident-search-submit")).to_have_text("Search")
    await settled(phone, "residents-search-phone-en")


async def test_a_device_type_form_shows_the_apis_own_validation_beside_each_field(page: Page) -> None:
    from playwright.async_api import expect

    community_id, _ = node_by_name("木棉岭社区")
    code = f"ui_type_{uuid.uuid4().hex[:8]}"
    await sign_in(page, "admin@luohu.demo")
    await page.goto(f"/#/device-types?node={community_id}")
    await expect(page.get_by_test_id("device-type-row").first).to_be_visible()
    form = page.get_by_test_id("device-type-form")
    await form.get_by_label("类型代码").fill("Bad Code")
    await form.get_by_label("中文名称").fill("界面测试类型")
    await form.get_by_label("英文名称").fill("UI test type")
    await form.get_by_label("指标代码").fill("X")
    await page.get_by_test_id("device-type-create").click()
    code_item = form.locator(".el-form-item", has=page.locator("#dt-code"))
    metric_item = form.locator(".el-form-item", has=page.locator("#dt-metric-0"))
    await expect(code_item.locator(".el-form-item__error")).to_contain_text("pattern")
    await expect(metric_item.locator(".el-form-item__error")).to_contain_text("pattern")
    await expect(
        form.locator(".el-form-item", has=page.locator("#dt-zh")).locator(".el-form-item__error")
    ).to_have_count(0)
    await settled(page, "device-type-errors-zh")
    assert scalar("select count(*) from tenant_device_types where code = %s", code) == 0

    await form.get_by_label("类型代码").fill(code)
    await form.get_by_label("指标代码").fill("temperature")
    await page.get_by_test_id("device-type-create").click()
    await expect(page.locator(f"[data-testid=device-type-row][data-code='{code}']")).to_be_visible()
    try:
        assert scalar("select count(*) from tenant_device_types where code = %s", code) == 1
        await page.get_by_test_id("lang-switch").click()
        await expect(page.get_by_test_id("device-type-create")).to_have_text("Create type")
        await settled(page, "device-types-en")
    finally:
        with superuser() as conn:
            conn.execute("delete from tenant_device_types where code = %s", (code,))
