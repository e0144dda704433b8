"""Field work in the console: a grid worker on the phone opens 我的巡查, checks in at the first checkpoint of
a scheduled round by its scanned code with a photo and the phone's position, and sees it checked; staff see
the care and patrol overview with the API's numbers. The server commits: the plan made here is removed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from linli.patrol.jobs import patrol_schedule_rounds
from linli.platform.db import dispose_engines
from tests.patrol.test_rounds import GRID, SHANGHAI, STAFF, make_plan
from tests.photos import jpeg_with_gps
from tests.portal.conftest import shot, sign_in, use_language
from tests.tenants.support import CachedLogin, node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

# Where the phone says it is (木棉岭, Guangzhou).
POSITION = {"latitude": 23.1291, "longitude": 113.2644}


@pytest.fixture
async def walk(server: str) -> AsyncIterator[dict[str, Any]]:
    """A plan due this hour, its rounds made by the scheduler job, and the grid worker's round due now."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as live:
        logins = CachedLogin(live)
        plan = await make_plan(live, await logins(STAFF), hours=[datetime.now(SHANGHAI).hour], window=120)
        try:
            await patrol_schedule_rounds(None)
            await dispose_engines()
            mine = await live.get("/api/v1/patrol/rounds", params={"mine": "true"}, headers=await logins(GRID))
            assert mine.status_code == 200, mine.text
            rounds = sorted((r for r in mine.json()["items"] if r["plan_id"] == plan["id"]), key=lambda r: r["due_at"])
            assert rounds, "the scheduler made no round for the plan"
            yield {"plan": plan, "round": rounds[0], "headers": await logins(STAFF)}
        finally:
            with superuser() as conn:
                conn.execute(
                    "delete from patrol_checkins where round_id in (select id from patrol_rounds where plan_id = %s)",
                    (plan["id"],),
                )
                conn.execute("delete from patrol_rounds where plan_id = %s", (plan["id"],))
                conn.execute("delete from patrol_checkpoints where plan_id = %s", (plan["id"],))
                conn.execute("delete from patrol_plans where id = %s", (plan["id"],))


async def test_a_grid_worker_checks_in_by_code_with_a_photo(phone: Page, walk: dict[str, Any]) -> None:
    from playwright.async_api import expect

    first = walk["plan"]["checkpoints"][0]
    await phone.context.grant_permissions(["geolocation"])
    await phone.context.set_geolocation(POSITION)
    await sign_in(phone, GRID)
    await phone.goto("/#/patrol/mine")
    card = phone.locator(f"[data-testid=patrol-round][data-round-id='{walk['round']['id']}']")
    await card.click()
    await expect(card.get_by_test_id("patrol-checkpoint")).to_have_count(3)
    await expect(card.locator("[data-testid=patrol-checkpoint][data-checked=true]")).to_have_count(0)
    await expect(phone.get_by_test_id("patrol-position")).to_contain_text("23.12910")

    await phone.get_by_test_id("patrol-code").fill(f"linli-patrol:{first['code']}")
    await phone.get_by_test_id("patrol-photo").set_input_files(
        {"name": "checkpoint.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}
    )
    await phone.get_by_test_id("patrol-checkin").click()
    await expect(phone.get_by_test_id("patrol-message")).to_contain_text(first["name"])
    checked = card.locator("[data-testid=patrol-checkpoint][data-checked=true]")
    await expect(checked).to_have_count(1)
    await expect(checked).to_contain_text(first["name"])
    await expect(checked).to_contain_text("有照片")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(phone, "patrol-mine-zh")
    await use_language(phone, "en")
    await expect(card.locator("[data-testid=patrol-checkpoint][data-checked=true]")).to_contain_text("photo")
    await shot(phone, "patrol-mine-en")

    with superuser() as conn:
        row = conn.execute(
            "select photo_key, latitude, longitude from patrol_checkins where round_id = %s and checkpoint_id = %s",
            (walk["round"]["id"], first["id"]),
        ).fetchone()
    assert row is not None and row[0]
    assert (round(row[1], 4), round(row[2], 4)) == (POSITION["latitude"], POSITION["longitude"])


def rate(value: float | None) -> str:
    """As the page writes a rate (shared/format.ts formatRate)."""
    return "—" if value is None else f"{value * 100:.1f}%"


async def test_the_overview_shows_the_apis_numbers(page: Page, walk: dict[str, Any], http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    community, _ = node_by_name("木棉岭社区")
    care = await http.get("/api/v1/care/overview", params={"node_id": community, "days": 30}, headers=walk["headers"])
    assert care.status_code == 200, care.text
    numbers = care.json()
    window = {"node_id": community, "from": numbers["since"], "to": numbers["until"]}
    patrol = await http.get("/api/v1/patrol/overview", params=window, headers=walk["headers"])
    assert patrol.status_code == 200, patrol.text
    assert patrol.json()["open"] >= 1  # the round made for this test is due now

    await sign_in(page, STAFF)
    await page.goto(f"/#/care/overview?node={community}")
    for key, value in [
        ("people", f"{numbers['people']:,}"),
        ("open-not-seen", f"{numbers['open_not_seen']:,}"),
        ("visits-due", f"{numbers['visits_due']:,}"),
        ("visits-overdue", f"{numbers['visits_overdue']:,}"),
        ("visit-rate", rate(numbers["on_time_rate"])),
        ("patrol-rate", rate(patrol.json()["on_time_rate"])),
    ]:
        await expect(page.get_by_test_id(f"care-kpi-{key}").get_by_test_id("care-kpi-value")).to_have_text(value)
    await expect(page.get_by_test_id("patrol-rounds")).to_contain_text(f"进行中 {patrol.json()['open']}")
    await shot(page, "care-overview-zh")
    await use_language(page, "en")
    await expect(page.get_by_test_id("patrol-rounds")).to_contain_text(f"{patrol.json()['open']} open")
    await shot(page, "care-overview-en")


async def test_staff_print_the_checkpoints_qr_codes(page: Page, walk: dict[str, Any]) -> None:
    from playwright.async_api import expect

    grid, _ = node_by_name("木棉岭第1网格")
    await sign_in(page, STAFF)
    await page.goto(f"/#/patrol/plans?node={grid}")
    plan = page.get_by_test_id("patrol-plan").filter(has_text=walk["plan"]["name"])
    await expect(plan).to_contain_text(walk["plan"]["checkpoints"][0]["code"])
    await plan.get_by_role("link").click()
    codes = page.get_by_test_id("patrol-qr")
    await expect(codes).to_have_count(3)
    for index in range(3):
        # Each QR code arrived with the bearer token and rendered as an image.
        await expect(codes.nth(index).locator("img")).to_have_attribute("src", re.compile(r"^blob:"))
        assert await codes.nth(index).locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    await expect(page.get_by_test_id("patrol-print")).to_be_visible()
    await shot(page, "patrol-qr-zh")


@pytest.fixture
def open_visit() -> Iterator[dict[str, Any]]:
    """An open visit, due yesterday, to someone in the grid worker's grid who has none open (the cared-for
    may all have one already: the care tests' scheduler commits theirs)."""
    with superuser() as conn:
        row = conn.execute(
            "select p.id, p.node_path::text from people p join role_grants g on p.node_path <@ g.node_path "
            "join users u on u.id = g.user_id where u.email = %s "
            "and not exists (select 1 from care_visits v where v.person_id = p.id and v.status = 'open') "
            "order by p.care_categories = '{}', p.id limit 1",
            (GRID,),
        ).fetchone()
        assert row is not None, "nobody without an open visit in the grid worker's grid"
        (visit_id,) = conn.execute(
            "insert into care_visits (person_id, node_path, due_on) values (%s, %s, current_date - 1) returning id",
            row,
        ).fetchone() or (None,)
    try:
        yield {"id": visit_id, "person_id": row[0]}
    finally:
        with superuser() as conn:
            conn.execute("delete from care_visits where id = %s", (visit_id,))


async def test_a_grid_worker_completes_an_overdue_visit_with_a_note_and_photo(
    phone: Page, open_visit: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    await sign_in(phone, GRID)
    await phone.goto("/#/care/visits")
    card = phone.locator(f"[data-testid=care-visit][data-visit-id='{open_visit['id']}']")
    await expect(card).to_contain_text("已逾期")
    await card.get_by_test_id("care-visit-complete").click()
    submit = phone.get_by_test_id("care-visit-submit")
    await expect(submit).to_be_disabled()  # a note and a photo are both needed
    await phone.get_by_test_id("care-visit-note").fill("老人身体尚好，药已按时服用")
    await phone.get_by_test_id("care-visit-photo").set_input_files(
        {"name": "visit.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}
    )
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.wait_for_timeout(400)  # the dialog's fade-in, for the picture only
    await shot(phone, "care-visit-complete-zh", full_page=False)
    await submit.click()
    # Done visits leave the open list; the done list shows it with its note.
    await expect(card).to_have_count(0)
    await phone.locator("label.el-radio-button", has_text="已完成").click()
    await expect(card).to_contain_text("药已按时服用")
    await use_language(phone, "en")
    done_tab = phone.locator("label.el-radio-button", has_text="Done")
    await done_tab.click()
    await expect(done_tab).to_have_class(re.compile("is-active"))
    await expect(card.locator(".el-tag")).to_have_text("Done")
    await phone.wait_for_timeout(400)  # the tabs' transition, for the picture only
    await shot(phone, "care-visit-done-en")

    with superuser() as conn:
        row = conn.execute(
            "select v.status, v.note, v.photo_key, v.visited_at is not null, u.email from care_visits v "
            "join users u on u.id = v.done_by where v.id = %s",
            (open_visit["id"],),
        ).fetchone()
    assert row is not None
    status, note, photo_key, visited, done_by = row
    assert (status, note, visited, done_by) == ("done", "老人身体尚好，药已按时服用", True, GRID)
    assert photo_key


async def test_staff_create_a_plan_with_checkpoints_in_walking_order(page: Page) -> None:
    from playwright.async_api import expect

    community, _ = node_by_name("木棉岭社区")
    name = f"东门夜巡 {datetime.now(SHANGHAI):%H%M%S%f}"
    await sign_in(page, STAFF)
    await page.goto(f"/#/patrol/plans?node={community}")
    await page.get_by_test_id("patrol-new-plan").click()
    form = page.get_by_test_id("patrol-plan-form")
    submit = form.get_by_test_id("plan-submit")
    await expect(submit).to_be_disabled()
    await form.get_by_test_id("plan-name").fill(name)
    await form.get_by_test_id("plan-assignee").click()
    await page.locator(".el-select-dropdown__item:visible", has_text="木棉岭第1网格员").first.click()
    await form.locator("label.el-checkbox", has_text="周六").click()
    await form.get_by_test_id("plan-checkpoint-name").first.fill("东门岗亭")
    await form.get_by_test_id("plan-add-checkpoint").click()
    await form.get_by_test_id("plan-checkpoint-name").nth(1).fill("地下车库入口")
    await form.get_by_test_id("plan-add-checkpoint").click()
    await form.get_by_test_id("plan-checkpoint-name").nth(2).fill("水泵房")
    # The pump room is walked first: moved up twice.
    await form.get_by_test_id("plan-checkpoint").nth(2).get_by_role("button", name="上移").click()
    await form.get_by_test_id("plan-checkpoint").nth(1).get_by_role("button", name="上移").click()
    await shot(page, "patrol-plan-form-zh", full_page=False)
    await submit.click()
    card = page.get_by_test_id("patrol-plan").filter(has_text=name)
    await expect(card.locator("li")).to_have_count(3)
    await expect(card.locator("li").first).to_contain_text("水泵房")
    await expect(card).to_contain_text("周6")

    with superuser() as conn:
        plan = conn.execute(
            "select p.id, p.schedule, u.email from patrol_plans p join users u on u.id = p.assignee_id "
            "where p.name = %s",
            (name,),
        ).fetchone()
        assert plan is not None
        points = conn.execute(
            "select name from patrol_checkpoints where plan_id = %s order by position", (plan[0],)
        ).fetchall()
        conn.execute("delete from patrol_plans where id = %s", (plan[0],))
    assert plan[1] == {"weekdays": [5], "hours": [9]} and plan[2] == GRID
    assert [p[0] for p in points] == ["水泵房", "东门岗亭", "地下车库入口"]
