"""The events centre in the console (issue 11, items 3 and 5): the list, the detail with the actions the
API allows, photo upload, ratings, the read-only auditor, a grid worker on a phone and the hand-entered
hotline event — driven in Chromium against the real server, checked in the database afterwards."""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import Login
from tests.events.test_intake_and_delivery import integration_key, signed
from tests.portal.conftest import shot, sign_in
from tests.tenants.support import node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

STAFF = "staff@mumianling.demo"
GRID = "grid@mumianling.demo"
AUDITOR = "auditor@wuhou.demo"


def png(rgb: tuple[int, int, int] = (46, 125, 50), width: int = 96, height: int = 72) -> bytes:
    """A real (viewable) PNG of one colour, so previews and screenshots show a photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real server's API, for setting the scene and checking what the console did."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def login(http: httpx.AsyncClient) -> Login:
    return Login(http)


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
            "select status, source, node_id, location, version from events where id = %s", (event_id,)
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
        "photos": [(p[0], p[1]) for p in photos],
        "timeline": [(t[0], list(t[1])) for t in timeline],
    }


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
    await shot(page, "events-list-zh")

    await page.get_by_test_id("event-filter-source").click()
    await page.locator(".el-select-dropdown__item", has_text="12345热线").click()
    await expect(row).to_have_count(0)
    await expect(rows.get_by_test_id("event-source").filter(has_not_text="12345热线")).to_have_count(0)

    await switch_language(page)
    await expect(page.get_by_test_id("event-tab-pending")).to_have_text("To accept")
    await shot(page, "events-list-en")


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
    await shot(page, "events-new-zh")
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
