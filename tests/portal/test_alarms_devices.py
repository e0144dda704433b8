"""告警与设备 in the console: alarms acknowledged from the list, devices registered (credentials shown
once), imported from a CSV, drawn (telemetry) and commanded, dead letters; in Chromium against the real
server, checked against what the database then holds. The server commits: every test makes its own
devices (unique serials) and alarms, and removes the alarms and broker logins it made."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from linli.iot import broker
from linli.platform.security import sha256_hex
from tests.portal.conftest import shot, sign_in, use_language
from tests.tenants.support import CachedLogin, node_by_name, scalar, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

STAFF = "staff@mumianling.demo"
ESTATE = "悦峰尚府"  # in 木棉岭社区
PROPERTY = "property@yuefeng.demo"  # 悦峰尚府's property manager
NANHONG_STAFF = "staff@nanhong.demo"
NANHONG_ESTATE = "林荫街9号院"  # in 南虹村社区, Wuhou: what the Wuhou auditor sees


def serial(prefix: str) -> str:
    return f"UI-{prefix}-{uuid.uuid4().hex[:8]}"


class Registry:
    """Devices registered through the real server's API, alarms inserted for them; both cleaned up."""

    def __init__(self, live: httpx.AsyncClient) -> None:
        self.live = live
        self.login = CachedLogin(live)
        self.usernames: list[str] = []
        self.alarms: list[int] = []

    async def register(self, login: str, type_code: str, estate: str, **location: str) -> dict[str, Any]:
        body = {
            "type": type_code,
            "serial": serial(type_code[:5]),
            "node_id": node_by_name(estate)[0],
            "location": location,
        }
        response = await self.live.post("/api/v1/devices", json=body, headers=await self.login(login))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        self.usernames.append(created["credentials"]["mqtt_username"])
        return created

    def track(self, serials: list[str]) -> None:
        """Devices the page registered: their broker logins go too."""
        with superuser() as conn:
            rows = conn.execute("select mqtt_username from devices where serial = any(%s)", (serials,)).fetchall()
        self.usernames.extend(str(r[0]) for r in rows)

    def open_alarm(self, device: dict[str, Any], *, rule: str = "smoke", severity: str = "critical") -> int:
        with superuser() as conn:
            row = conn.execute(
                """insert into alarms (tenant_id, device_id, node_id, node_path, rule_code, kind, severity, state,
                                       value, opened_at, details)
                   values (%s, %s, %s, %s::ltree, %s, 'state', %s, 'open', 1, now() - interval '7 minutes', '{}')
                   returning id""",
                (device["tenant_id"], device["id"], device["node_id"], device["node_path"], rule, severity),
            ).fetchone()
        assert row is not None
        self.alarms.append(int(row[0]))
        return int(row[0])

    async def readings(self, device: dict[str, Any], metric: str, values: list[float]) -> None:
        """Through the real ingest path (HTTP, the device's own token), ten minutes apart up to now."""
        now = datetime.now(UTC)
        readings = [
            {
                "serial": device["serial"],
                "ts": (now - timedelta(minutes=10 * (len(values) - i))).isoformat(),
                "metrics": {metric: v},
            }
            for i, v in enumerate(values)
        ]
        response = await self.live.post(
            "/api/v1/ingest", json={"readings": readings}, headers={"X-Device-Token": device["credentials"]["token"]}
        )
        assert response.status_code == 202 and response.json()["stored"] == len(values), response.text

    async def close(self) -> None:
        with superuser() as conn:
            conn.execute("delete from alarm_history where alarm_id = any(%s)", (self.alarms,))
            conn.execute("update commands set alarm_id = null where alarm_id = any(%s)", (self.alarms,))
            conn.execute("delete from alarms where id = any(%s)", (self.alarms,))
        if self.usernames and broker.dynsec_enabled():
            await broker.delete_devices(self.usernames)


@pytest.fixture
async def registry(server: str) -> AsyncIterator[Registry]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as live:
        made = Registry(live)
        try:
            yield made
        finally:
            await made.close()


async def settled(page: Page, name: str) -> None:
    """A screenshot once nothing is loading any more."""
    from playwright.async_api import expect

    await expect(page.locator(".el-loading-mask")).to_have_count(0)
    await expect(page.locator(".el-button.is-loading")).to_have_count(0)
    await shot(page, name)


async def no_sideways_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def test_staff_registers_a_device_and_sees_its_credentials_exactly_once(page: Page, registry: Registry) -> None:
    from playwright.async_api import expect

    estate_id = node_by_name(ESTATE)[0]
    await sign_in(page, STAFF)
    await page.goto(f"/#/devices?node={estate_id}")
    await page.get_by_test_id("device-register").click()
    await page.get_by_test_id("device-type").click()
    await page.get_by_role("option", name="独立式烟感 (smoke_detector)").click()
    wanted = serial("smoke")
    await page.get_by_test_id("device-serial").fill(wanted)
    await page.get_by_test_id("device-building").fill("3栋")
    await page.get_by_test_id("device-unit").fill("2单元")
    await page.get_by_test_id("device-floor").fill("5")
    await page.get_by_test_id("device-space").fill("501厨房")
    await page.get_by_test_id("device-submit").click()

    credentials = page.get_by_test_id("device-credentials")
    await expect(credentials).to_be_visible()
    registry.track([wanted])
    await expect(credentials).to_contain_text("这是唯一一次显示这些凭据")
    token = (await page.get_by_test_id("credential-token").inner_text()).strip()
    password = (await page.get_by_test_id("credential-mqtt_password").inner_text()).strip()
    assert token.startswith("dt_") and len(password) >= 20
    for field in ("token", "mqtt_username", "mqtt_password", "telemetry_topic", "commands_topic", "acks_topic"):
        await expect(page.get_by_test_id(f"copy-{field}")).to_be_visible()
    await settled(page, "devices-register-credentials-zh")

    # The database holds hashes, never the secrets (nor does the audit log).
    with superuser() as conn:
        row = conn.execute(
            "select token_hash, mqtt_password_hash, location, d::text from devices d where serial = %s", (wanted,)
        ).fetchone()
        assert row is not None
        assert row[0] == sha256_hex(token) and row[1] == sha256_hex(password)
        assert row[2] == {"building": "3栋", "unit": "2单元", "floor": "5", "space": "501厨房"}
        assert password not in row[3] and token not in row[3]
        audited = conn.execute(
            "select count(*) from audit_log where action = 'device.register' and after::text like %s", (f"%{wanted}%",)
        ).fetchone()
        leaked = conn.execute(
            "select count(*) from audit_log where after::text like %s or after::text like %s",
            (f"%{password}%", f"%{token}%"),
        ).fetchone()
    assert audited == (1,) and leaked == (0,)

    # A reload shows the empty form again: the credentials are gone for good.
    await page.reload()
    await expect(page.get_by_test_id("device-form")).to_be_visible()
    await expect(page.get_by_test_id("device-credentials")).to_have_count(0)
    assert password not in await page.content()
    device_id = scalar("select id from devices where serial = %s", wanted)
    await page.goto(f"/#/devices/{device_id}?node={estate_id}")
    await expect(page.get_by_test_id("device-details")).to_contain_text("悦峰尚府 · 3栋 · 2单元 · 5 · 501厨房")
    await expect(page.get_by_test_id("device-credentials")).to_have_count(0)
    assert password not in await page.content() and token not in await page.content()


async def test_an_open_alarm_is_acknowledged_from_the_list(page: Page, registry: Registry) -> None:
    from playwright.async_api import expect

    detector = await registry.register(
        STAFF, "smoke_detector", ESTATE, building="1栋", unit="2单元", floor="7", space="702"
    )
    alarm_id = registry.open_alarm(detector)
    await sign_in(page, STAFF)
    await page.goto(f"/#/alarms?node={detector['node_id']}")
    row = page.locator(f"[data-testid=alarm-row][data-alarm-id='{alarm_id}']")
    await expect(row.get_by_test_id("alarm-severity")).to_have_text("紧急")
    await expect(row.get_by_test_id("alarm-device")).to_have_text(detector["serial"])
    await expect(row.get_by_test_id("alarm-place")).to_have_text("悦峰尚府 · 1栋 · 2单元 · 7 · 702")
    await expect(row).to_contain_text("独立式烟感 · smoke")
    await expect(row.get_by_test_id("alarm-status")).to_have_text("待确认")
    await settled(page, "alarms-zh")

    await row.get_by_test_id("alarm-ack").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("textbox").fill("已派人到场")
    await dialog.get_by_role("button", name="确认告警").click()
    await expect(row.get_by_test_id("alarm-status")).to_have_text("已确认")
    await expect(row.get_by_test_id("alarm-ack")).to_have_count(0)
    await expect(row.get_by_test_id("alarm-acknowledged")).to_contain_text("木棉岭社区工作人员")

    # The database holds the acknowledging user and the note. `acknowledged_by` is the principal's name, which
    # a bearer token's principal leaves empty, so today it holds the user's id (the list shows the name).
    with superuser() as conn:
        staff_id = str(conn.execute("select id from users where email = %s", (STAFF,)).fetchone()[0])  # type: ignore[index]
        state = conn.execute(
            "select state, acknowledged_by, acknowledged_at is not null from alarms where id = %s", (alarm_id,)
        ).fetchone()
        history = conn.execute(
            "select actor, note from alarm_history where alarm_id = %s and action = 'acknowledged'", (alarm_id,)
        ).fetchall()
    assert state is not None and state[0] == "acknowledged" and state[2]
    assert state[1] in (staff_id, "木棉岭社区工作人员")
    assert history == [(staff_id, "已派人到场")]

    # The jump to the device, and from there to its place.
    await row.get_by_test_id("alarm-device").click()
    await expect(page.get_by_test_id("device-details")).to_contain_text("悦峰尚府 · 1栋 · 2单元 · 7 · 702")
    await expect(page.get_by_test_id("device-alarms")).to_contain_text("smoke")
    await page.get_by_test_id("device-place").click()
    await expect(page.get_by_test_id("node-breadcrumb").locator("strong")).to_have_text("悦峰尚府")
    await page.get_by_test_id("device-filter-serial").fill(detector["serial"][-6:].upper())
    await page.get_by_test_id("device-search").click()
    await expect(page.get_by_test_id("device-row")).to_have_count(1)
    await expect(page.get_by_test_id("device-row")).to_have_attribute("data-device-id", str(detector["id"]))
    assert f"serial={detector['serial'][-6:].upper()}" in page.url


async def test_a_bulk_csv_registers_the_good_rows_and_shows_the_bad_rows_errors(page: Page, registry: Registry) -> None:
    from playwright.async_api import expect

    estate_id = node_by_name(ESTATE)[0]
    good = [serial("bulk"), serial("bulk")]
    bad = serial("bulk")
    csv_text = (
        "type,serial,node_id,building,unit,floor,space\n"
        f"water_leak_sensor,{good[0]},{estate_id},2栋,1单元,1,101\n"
        f"no_such_type,{bad},{estate_id},2栋,,,\n"
        f"water_leak_sensor,{good[1]},{estate_id},2栋,1单元,2,201\n"
    )
    await sign_in(page, STAFF)
    await page.goto(f"/#/devices?node={estate_id}")
    await page.get_by_test_id("device-bulk").click()
    await page.get_by_test_id("bulk-file").set_input_files(
        {"name": "devices.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}
    )
    await page.get_by_test_id("bulk-submit").click()
    await expect(page.get_by_test_id("bulk-summary")).to_contain_text("已登记 2 台，1 行未登记")
    registry.track(good)
    errors = page.get_by_test_id("bulk-error-row")
    await expect(errors).to_have_count(1)
    await expect(errors.first).to_have_attribute("data-row", "3")
    await expect(errors.first).to_contain_text(bad)
    await expect(errors.first).to_contain_text("unknown_device_type")
    await expect(page.get_by_test_id("bulk-created-row")).to_have_count(2)
    await expect(page.get_by_test_id("bulk-credentials")).to_be_visible()
    await settled(page, "devices-bulk-zh")

    with superuser() as conn:
        stored = conn.execute(
            "select serial from devices where serial = any(%s) order by serial", ([*good, bad],)
        ).fetchall()
    assert [r[0] for r in stored] == sorted(good)


async def test_the_device_page_draws_the_telemetry_a_device_sent(page: Page, registry: Registry) -> None:
    from playwright.async_api import expect

    meter = await registry.register(STAFF, "energy_meter", ESTATE, building="1栋", space="配电房")
    await registry.readings(meter, "power_kw", [12.5, 14.0, 9.5, 20.0])
    refused: list[str] = []  # the chart needs nothing the page's strict CSP refuses (no inline <style>)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    await sign_in(page, STAFF)
    await page.goto(f"/#/devices/{meter['id']}?node={meter['node_id']}")
    chart = page.get_by_test_id("telemetry-chart")
    await expect(chart).to_have_attribute("data-points", "4")
    await expect(chart).to_have_attribute("data-resolution", "raw")
    await expect(chart.locator("canvas")).to_have_count(1)
    box = await chart.locator("canvas").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    await settled(page, "device-telemetry-zh")
    # A longer range asks for hourly rollups (none are computed yet for these fresh readings).
    await page.get_by_test_id("telemetry-range-7d").click()
    await expect(page.get_by_test_id("device-telemetry")).to_contain_text("每小时平均值")
    assert refused == []


async def test_a_refused_reading_shows_in_the_dead_letters_with_its_reason(page: Page, registry: Registry) -> None:
    from playwright.async_api import expect

    meter = await registry.register(STAFF, "energy_meter", ESTATE, building="1栋")
    refused = await registry.live.post(
        "/api/v1/ingest",
        json={"metrics": {"power_kw": 99999}},
        headers={"X-Device-Token": meter["credentials"]["token"]},
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "out_of_range"
    await sign_in(page, STAFF)
    await page.goto("/#/dead-letters?reason=out_of_range")
    row = page.get_by_test_id("dead-letter-row").filter(has_text=f"设备 #{meter['id']}")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("超出量程")
    await row.get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(meter["serial"])


async def test_property_staff_send_an_actuator_a_command_from_a_phone_and_see_it_in_its_history(
    phone: Page, registry: Registry
) -> None:
    from playwright.async_api import expect

    fan = await registry.register(PROPERTY, "exhaust_fan", ESTATE, building="1栋", floor="B1", space="地下车库")
    await sign_in(phone, PROPERTY)
    await phone.goto(f"/#/devices/{fan['id']}?node={fan['node_id']}")
    form = phone.get_by_test_id("command-form")
    await expect(form.get_by_test_id("command-code")).to_contain_text("set_power")  # the one its type declares
    await form.get_by_test_id("command-arg-on").click()
    await form.get_by_test_id("command-send").click()
    row = phone.get_by_test_id("command-row")
    await expect(row).to_have_count(1)
    await expect(row).to_have_attribute("data-command", "set_power")
    await expect(row).to_contain_text("on=true")
    await expect(row).to_contain_text("人工下发")
    # Published to the broker after the commit: the history, looked at again while it waits, says so.
    await expect(row.get_by_test_id("command-status")).to_have_text("已发送", timeout=20_000)
    await no_sideways_scroll(phone)
    await settled(phone, "device-command-phone-zh")

    with superuser() as conn:
        sent = conn.execute(
            "select command, args, alarm_id from commands where device_id = %s", (fan["id"],)
        ).fetchall()
        audited = conn.execute(
            "select count(*) from audit_log where action = 'command.send' and after->>'device_id' = %s",
            (str(fan["id"]),),
        ).fetchone()
    assert sent == [("set_power", {"on": True}, None)] and audited == (1,)
    # A sensor declares no command: no form.
    meter = await registry.register(PROPERTY, "energy_meter", ESTATE, building="1栋")
    await phone.goto(f"/#/devices/{meter['id']}?node={meter['node_id']}")
    await expect(phone.get_by_test_id("device-commands")).to_be_visible()
    await expect(phone.get_by_test_id("command-form")).to_have_count(0)


async def test_the_auditor_sees_alarms_and_devices_but_no_control_to_change_them(
    phone: Page, registry: Registry
) -> None:
    from playwright.async_api import expect

    fan = await registry.register(NANHONG_STAFF, "exhaust_fan", NANHONG_ESTATE, building="5栋", space="地下车库")
    alarm_id = registry.open_alarm(fan, rule="offline", severity="medium")
    await sign_in(phone, "auditor@wuhou.demo")
    await phone.get_by_role("button", name="打开菜单").click()
    menu = phone.get_by_role("dialog")
    for label in ("告警", "设备", "异常数据"):
        await expect(menu.get_by_role("menuitem", name=label)).to_be_visible()
    await phone.keyboard.press("Escape")

    await phone.goto(f"/#/alarms?node={fan['node_id']}")
    row = phone.locator(f"[data-testid=alarm-row][data-alarm-id='{alarm_id}']")
    await expect(row.get_by_test_id("alarm-status")).to_have_text("待确认")
    await expect(phone.get_by_test_id("alarm-ack")).to_have_count(0)
    await no_sideways_scroll(phone)
    await settled(phone, "alarms-auditor-phone-zh")

    await phone.goto(f"/#/devices?node={fan['node_id']}&serial={fan['serial']}")
    await expect(phone.locator(f"[data-testid=device-row][data-device-id='{fan['id']}']")).to_be_visible()
    await expect(phone.get_by_test_id("device-register")).to_have_count(0)
    await expect(phone.get_by_test_id("device-bulk")).to_have_count(0)
    await no_sideways_scroll(phone)

    await phone.goto(f"/#/devices/{fan['id']}?node={fan['node_id']}")
    await expect(phone.get_by_test_id("device-details")).to_contain_text("排风机")
    await expect(phone.get_by_test_id("device-commands")).to_be_visible()
    await expect(phone.get_by_test_id("command-form")).to_have_count(0)
    await expect(phone.get_by_test_id("device-revoke")).to_have_count(0)
    await no_sideways_scroll(phone)
    await settled(phone, "device-auditor-phone-zh")

    # The pages a control would open are refused too, and so is a forged request.
    await phone.goto(f"/#/devices/register?node={fan['node_id']}")
    await expect(phone.get_by_test_id("device-form")).to_have_count(0)
    status = await phone.evaluate(
        """async (id) => (await fetch(`/api/v1/alarms/${id}/acknowledge`, { method: 'POST',
             headers: { Authorization: 'Bearer ' + sessionStorage.getItem('linli.access_token') } })).status""",
        alarm_id,
    )
    assert status == 403
    assert scalar("select state from alarms where id = %s", alarm_id) == "open"


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_every_page_on_a_desk_and_a_phone(page: Page, phone: Page, registry: Registry, lang: str) -> None:
    """Screenshots of each page in each language; on the phone nothing scrolls sideways."""
    from playwright.async_api import expect

    meter = await registry.register(
        STAFF, "energy_meter", ESTATE, building="1栋", unit="1单元", floor="B1", space="配电房"
    )
    await registry.readings(meter, "power_kw", [30, 42, 38, 55, 47, 40])
    registry.open_alarm(meter, rule="outage", severity="medium")
    node = meter["node_id"]
    pages = {
        "alarms": (f"/#/alarms?node={node}", "alarm-row"),
        "devices": (f"/#/devices?node={node}", "device-row"),
        "device": (f"/#/devices/{meter['id']}?node={node}", "telemetry-chart"),
        "device-register": (f"/#/devices/register?node={node}", "device-form"),
        "device-bulk": (f"/#/devices/bulk?node={node}", "bulk-file"),
        "dead-letters": (f"/#/dead-letters?node={node}", "page-title"),
    }
    for viewport, browser_page in (("desktop", page), ("phone", phone)):
        await sign_in(browser_page, STAFF)
        await use_language(browser_page, lang)
        for name, (url, ready) in pages.items():
            await browser_page.goto(url)
            marker = (
                browser_page.locator(".page-title") if ready == "page-title" else browser_page.get_by_test_id(ready)
            )
            await expect(marker.first).to_be_visible()
            if viewport == "phone":
                await no_sideways_scroll(browser_page)
            await settled(browser_page, f"{name}-{viewport}-{lang}")
