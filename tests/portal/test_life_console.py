"""Community life in the staff console (issue 14): staff publish an activity and check a resident in by the
code the app shows (volunteer hours recorded), add a bookable room and see a resident's booking in its week
calendar before closing it (the booking cancelled), add and retire a reward and adjust a resident's points
(one balanced movement), put a topic to the vote and close it (results shown), keep a tool and lend it
(an overdue loan stands out). Residents act through the live app API. The server commits: every row made
here is removed, and the demo resident's points are restored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.crowd import crowd
from tests.portal.conftest import SHANGHAI, shot, sign_in, use_language
from tests.tenants.support import CachedLogin, node_by_name, superuser

if TYPE_CHECKING:
    import psycopg
    from playwright.async_api import Page

STAFF = "staff@mumianling.demo"
RESIDENT = "13800000001"
RESIDENT_NAME = "悦峰尚府居民"
APP = "/api/v1/app/mumianling"


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture
async def resident(server: str) -> AsyncIterator[dict[str, Any]]:
    """The demo resident's headers on the live server and their user id."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as live:
        headers = await CachedLogin(live)(RESIDENT)
        with superuser() as conn:
            row = conn.execute("select id from users where phone = %s", (RESIDENT,)).fetchone()
        assert row is not None
        yield {"http": live, "headers": headers, "id": row[0]}


def undo_movements(conn: psycopg.Connection[Any], where: str, params: tuple[Any, ...]) -> None:
    """Points movements taken back: each entry's amount off its account's balance, then the rows."""
    for (movement,) in conn.execute(f"select id from points_movements where {where}", params).fetchall():
        conn.execute(
            "update points_accounts a set balance = a.balance - e.amount from points_entries e"
            " where e.movement_id = %s and a.id = e.account_id",
            (movement,),
        )
        conn.execute("delete from points_entries where movement_id = %s", (movement,))
        conn.execute("delete from points_movements where id = %s", (movement,))


async def pick(page: Page, select: str, option: str) -> None:
    """An Element Plus select: opened, then the option (teleported to the body) clicked."""
    await page.get_by_test_id(select).click()
    await page.get_by_test_id(option).click()


async def fill_number(page: Page, testid: str, value: int | float) -> None:
    box = page.get_by_test_id(testid).locator("input")
    await box.fill(str(value))
    await box.press("Tab")


async def confirm(page: Page) -> None:
    await page.locator(".el-message-box__btns .el-button--primary").click()


# Activities ----------------------------------------------------------------------------------------------


@pytest.fixture
def activities_made() -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with superuser() as conn:
        for activity in made:
            undo_movements(conn, "reference like %s", (f"checkin:{activity}:%",))
            conn.execute("delete from notifications where payload->>'activity_id' = %s", (str(activity),))
            conn.execute("delete from activity_signups where activity_id = %s", (activity,))
            conn.execute("delete from activities where id = %s", (activity,))


async def test_staff_publish_an_activity_and_check_a_resident_in_by_code(
    page: Page, resident: dict[str, Any], activities_made: list[int], tag: str
) -> None:
    from playwright.async_api import expect

    community, estate = node_by_name("木棉岭社区")[0], node_by_name("悦峰尚府")[1]
    title = f"楼道清洁 {tag}"
    await sign_in(page, STAFF)
    await page.goto(f"/#/activities?node={community}")
    await page.get_by_test_id("activity-new").click()
    await pick(page, "activity-service", "activity-service-party_volunteer")
    await page.get_by_test_id("activity-title").fill(title)
    await page.get_by_test_id("activity-place").fill("悦峰尚府 5 栋")
    await fill_number(page, "activity-capacity", 1)
    await fill_number(page, "activity-hours", 2)
    await expect(page.get_by_test_id("activity-form")).to_contain_text("每次签到得 5 分")  # the demo's rules
    await shot(page, "life-activity-new-zh")
    await page.get_by_test_id("activity-submit").click()
    await expect(page.get_by_test_id("activity-heading")).to_have_text(title)
    activity_id = int(page.url.split("/activities/")[1].split("?")[0])
    activities_made.append(activity_id)
    with superuser() as conn:
        row = conn.execute(
            "select service_code, capacity, volunteer_hours, node_id, place from activities where id = %s",
            (activity_id,),
        ).fetchone()
    assert row is not None and row[:3] == ("party_volunteer", 1, 2) and row[3] == community and row[4]

    # The demo resident takes the one place; two more residents queue, in their order.
    live, headers = resident["http"], resident["headers"]
    signed = await live.post(f"{APP}/activities/{activity_id}/signup", headers=headers)
    assert signed.status_code == 201 and signed.json()["my_status"] == "confirmed", signed.text
    async with crowd(2, estate) as people:
        for person in people.headers:
            queued = await people.http.post(f"{APP}/activities/{activity_id}/signup", headers=person)
            assert queued.json()["my_status"] == "waitlisted", queued.text
        code = (await live.post(f"{APP}/activities/{activity_id}/checkin-code", headers=headers)).json()["code"]

        await page.reload()
        confirmed = page.get_by_test_id("signups-confirmed").get_by_test_id("signup-row")
        await expect(confirmed).to_have_count(1)
        await expect(confirmed).to_contain_text(RESIDENT_NAME)
        waiting = page.get_by_test_id("signups-waitlisted").get_by_test_id("signup-row")
        await expect(waiting).to_have_count(2)
        await expect(waiting.nth(0)).to_contain_text("1. crowd")
        await expect(waiting.nth(1)).to_contain_text("2. crowd")
        await expect(waiting.nth(0)).to_have_attribute("data-user-id", str(people.ids[0]))

        await page.get_by_test_id("activity-checkin-code").fill("not-a-code-at-all")
        await page.get_by_test_id("activity-checkin").click()
        await expect(page.get_by_test_id("activity-checkin-refused")).to_be_visible()
        await page.get_by_test_id("activity-checkin-code").fill(code)
        await page.get_by_test_id("activity-checkin").click()
        await expect(page.get_by_test_id("activity-checkin-ok")).to_contain_text(RESIDENT_NAME)
        await expect(page.get_by_test_id("activity-checkin-ok")).to_contain_text("2")
        await expect(confirmed).to_have_attribute("data-checked-in", "true")
        await shot(page, "life-activity-checkin-zh")
        with superuser() as conn:
            signup = conn.execute(
                "select checked_in_at, hours from activity_signups where activity_id = %s and user_id = %s",
                (activity_id, resident["id"]),
            ).fetchone()
            earned = conn.execute(
                "select amount from points_movements where reference = %s",
                (f"checkin:{activity_id}:{resident['id']}",),
            ).fetchone()
        assert signup is not None and signup[0] is not None and signup[1] == 2
        assert earned == (5 + 2 * 10,)  # the demo rules: 5 a check-in, 10 a volunteer hour

        await use_language(page, "en")
        await expect(page.get_by_test_id("signups-waitlisted")).to_contain_text("Waitlist (in order)")
        await page.get_by_test_id("activity-cancel").click()
        await confirm(page)
        await expect(page.get_by_test_id("activity-state")).to_have_attribute("data-state", "cancelled")
        await shot(page, "life-activity-cancelled-en")
        with superuser() as conn:
            status = conn.execute("select status from activities where id = %s", (activity_id,)).fetchone()
            told = conn.execute(
                "select count(*) from notifications where kind = 'activity.cancelled' and payload->>'activity_id' = %s",
                (str(activity_id),),
            ).fetchone()
        assert status == ("cancelled",) and told == (3,)

    await page.goto(f"/#/activities?node={community}")
    row = page.locator(f"[data-testid=activity-row][data-activity-id='{activity_id}']")
    await expect(row).to_contain_text("Cancelled")
    await page.get_by_test_id("activity-status").get_by_text("Open").click()
    await expect(row).to_have_count(0)


# Bookings ------------------------------------------------------------------------------------------------


@pytest.fixture
def resources_made() -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with superuser() as conn:
        for resource in made:
            conn.execute("delete from notifications where payload->>'resource_id' = %s", (str(resource),))
            conn.execute("delete from bookings where resource_id = %s", (resource,))
            conn.execute("delete from resources where id = %s", (resource,))


async def test_staff_add_a_room_see_a_booking_in_its_week_and_close_it(
    page: Page, resident: dict[str, Any], resources_made: list[int], tag: str
) -> None:
    from playwright.async_api import expect

    community = node_by_name("木棉岭社区")[0]
    name = f"测试活动室 {tag}"
    await sign_in(page, STAFF)
    await page.goto(f"/#/bookings?node={community}")
    await page.get_by_test_id("resource-new").click()
    await pick(page, "resource-service", "resource-service-com_space_booking")
    await page.get_by_test_id("resource-name").fill(name)
    await page.get_by_test_id("resource-opens").fill("08:00")
    await page.get_by_test_id("resource-closes").fill("20:00")
    await fill_number(page, "resource-slot", 120)
    await fill_number(page, "resource-weekly", 2)
    await fill_number(page, "resource-cancel", 30)
    await shot(page, "life-resource-new-zh", full_page=False)
    await page.get_by_test_id("resource-submit").click()
    row = page.get_by_test_id("resource-row").filter(has_text=name)
    await expect(row).to_have_attribute("data-status", "open")
    resource_id = int(await row.get_attribute("data-resource-id") or 0)
    resources_made.append(resource_id)
    with superuser() as conn:
        stored = conn.execute(
            "select opens::text, closes::text, slot_minutes, weekly_limit, cancel_before_minutes, service_code"
            " from resources where id = %s",
            (resource_id,),
        ).fetchone()
    assert stored == ("08:00:00", "20:00:00", 120, 2, 30, "com_space_booking")

    # The resident books 10:00 the day after tomorrow, in the app.
    day = (datetime.now(SHANGHAI) + timedelta(days=2)).date()
    starts = datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)
    booked = await resident["http"].post(
        f"{APP}/resources/{resource_id}/bookings", json={"starts_at": starts.isoformat()}, headers=resident["headers"]
    )
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["id"]

    monday = day - timedelta(days=day.weekday())
    await row.get_by_test_id("resource-calendar").click()
    await expect(page.get_by_test_id("week-resource")).to_have_text(name)
    if (datetime.now(SHANGHAI).date() - timedelta(days=datetime.now(SHANGHAI).weekday())) != monday:
        await page.get_by_test_id("week-next").click()
    await expect(page.get_by_test_id("week-range")).to_have_attribute("data-monday", monday.isoformat())
    cell = page.locator(f"[data-testid=week-booking][data-booking-id='{booking_id}']")
    await expect(cell).to_contain_text(RESIDENT_NAME)
    await expect(cell).to_have_attribute("data-start", "10:00")
    await expect(page.locator(f"[data-testid=week-day][data-day='{day.isoformat()}']")).to_contain_text("10:00")
    await expect(page.locator("[data-testid=week-day]").first.locator(".slot")).to_have_count(6)  # 08:00 to 20:00
    await shot(page, "life-resource-week-zh")
    await page.get_by_test_id("week-next").click()
    await expect(page.get_by_test_id("week-range")).to_have_attribute(
        "data-monday", (monday + timedelta(days=7)).isoformat()
    )
    await expect(cell).to_have_count(0)
    await page.get_by_test_id("week-prev").click()
    await expect(cell).to_be_visible()

    await use_language(page, "en")
    await expect(page.get_by_test_id("week-count")).to_contain_text("1 booking this week")
    await shot(page, "life-resource-week-en")
    await page.goto(f"/#/bookings?node={community}")
    await row.get_by_test_id("resource-close").click()
    await expect(page.locator(".el-message-box")).to_contain_text("coming bookings are cancelled")
    await confirm(page)
    await expect(row).to_have_attribute("data-status", "closed")
    with superuser() as conn:
        state = conn.execute("select status, cancel_reason from bookings where id = %s", (booking_id,)).fetchone()
        told = conn.execute(
            "select count(*) from notifications where kind = 'booking.cancelled' and payload->>'booking_id' = %s",
            (str(booking_id),),
        ).fetchone()
    assert state == ("cancelled", "resource_closed") and told == (1,)
    await page.goto(f"/#/bookings/{resource_id}?node={community}&week={monday.isoformat()}")
    await expect(page.get_by_test_id("week-count")).to_contain_text("0 bookings")


# Points --------------------------------------------------------------------------------------------------


async def test_staff_add_and_retire_a_reward_and_adjust_a_residents_points(
    page: Page, resident: dict[str, Any], tag: str
) -> None:
    from playwright.async_api import expect

    community = node_by_name("木棉岭社区")[0]
    name = f"测试奖品 {tag}"
    note = f"补录活动积分 {tag}"
    try:
        await sign_in(page, STAFF)
        await page.goto(f"/#/points?node={community}")
        await expect(page.get_by_test_id("points-rule-checkin").locator("input")).to_have_value("5")
        await page.locator("#tab-rewards").click()
        await page.get_by_test_id("reward-new").click()
        await page.get_by_test_id("reward-name").fill(name)
        await page.get_by_test_id("reward-name-en").fill(f"Test reward {tag}")
        await fill_number(page, "reward-cost", 30)
        await fill_number(page, "reward-stock", 5)
        await page.get_by_test_id("reward-submit").click()
        row = page.get_by_test_id("reward-row").filter(has_text=name)
        await expect(row).to_have_attribute("data-active", "true")
        await expect(row).to_contain_text("30")
        await shot(page, "life-points-rewards-zh")
        await row.get_by_test_id("reward-retire").click()
        await confirm(page)
        await expect(row).to_have_attribute("data-active", "false")
        with superuser() as conn:
            reward = conn.execute("select cost, stock, active from points_rewards where name = %s", (name,)).fetchone()
        assert reward == (30, 5, False)

        with superuser() as conn:
            before = conn.execute(
                "select balance from points_accounts where user_id = %s", (resident["id"],)
            ).fetchone()
        assert before is not None
        await page.locator("#tab-account").click()
        await page.get_by_test_id("points-resident").click()
        await page.locator(".el-select-dropdown__item").filter(has_text=RESIDENT_NAME).click()
        await page.get_by_test_id("points-show").click()
        await expect(page.get_by_test_id("points-balance")).to_have_text(str(before[0]))
        await fill_number(page, "points-amount", 12)
        await page.get_by_test_id("points-note").fill(note)
        await page.get_by_test_id("points-adjust-submit").click()
        await expect(page.get_by_test_id("points-balance")).to_have_text(str(before[0] + 12))
        first = page.get_by_test_id("points-movement").first
        await expect(first).to_contain_text("+12")
        await expect(first).to_contain_text(note)
        await shot(page, "life-points-account-zh")
        with superuser() as conn:
            entries = conn.execute(
                "select e.amount from points_entries e join points_movements m on m.id = e.movement_id"
                " where m.note = %s order by e.amount",
                (note,),
            ).fetchall()
            reason = conn.execute("select kind, reason from points_movements where note = %s", (note,)).fetchone()
        assert [e[0] for e in entries] == [-12, 12] and reason == ("adjust", "adjustment")

        await use_language(page, "en")
        await expect(page.get_by_test_id("points-statement")).to_contain_text("Adjustment")
        await shot(page, "life-points-account-en")
    finally:
        with superuser() as conn:
            undo_movements(conn, "note = %s", (note,))
            conn.execute("delete from points_rewards where name = %s", (name,))


# Votes ---------------------------------------------------------------------------------------------------


@pytest.fixture
def votes_made() -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with superuser() as conn:
        for vote in made:
            conn.execute("delete from vote_participations where vote_id = %s", (vote,))
            conn.execute("delete from vote_tallies where vote_id = %s", (vote,))
            conn.execute("delete from votes where id = %s", (vote,))


async def test_staff_put_a_topic_to_the_vote_close_it_and_see_the_results(
    page: Page, resident: dict[str, Any], votes_made: list[int], tag: str
) -> None:
    from playwright.async_api import expect

    community = node_by_name("木棉岭社区")[0]
    title = f"快递柜位置 {tag}"
    await sign_in(page, STAFF)
    await page.goto(f"/#/votes?node={community}")
    await page.get_by_test_id("vote-new").click()
    await page.get_by_test_id("vote-title").fill(title)
    await page.get_by_test_id("vote-option-0").fill("东门")
    await page.get_by_test_id("vote-option-1").fill("西门")
    await page.get_by_test_id("vote-add-option").click()
    await page.get_by_test_id("vote-option-2").fill("地下车库")
    await page.get_by_test_id("vote-per").get_by_text("每人一票").click()
    await page.get_by_test_id("vote-anonymous").click()
    await shot(page, "life-vote-new-zh")
    await page.get_by_test_id("vote-submit").click()
    await expect(page.get_by_test_id("vote-heading")).to_have_text(title)
    vote_id = int(page.url.split("/votes/")[1].split("?")[0])
    votes_made.append(vote_id)
    await expect(page.get_by_test_id("vote-state")).to_have_attribute("data-state", "open")
    with superuser() as conn:
        stored = conn.execute(
            "select options, ballot_per, anonymous, service_code, node_id from votes where id = %s", (vote_id,)
        ).fetchone()
    assert stored == (["东门", "西门", "地下车库"], "resident", True, "party_deliberation", community)

    cast = await resident["http"].post(f"{APP}/votes/{vote_id}/ballot", json={"choice": 2}, headers=resident["headers"])
    assert cast.status_code == 201, cast.text
    await page.reload()
    await expect(page.get_by_test_id("vote-turnout")).to_contain_text("已投 1 票")
    await expect(page.get_by_test_id("vote-results")).to_have_count(0)  # not before the vote closes
    await page.get_by_test_id("vote-close").click()
    await confirm(page)
    await expect(page.get_by_test_id("vote-state")).to_have_attribute("data-state", "closed")
    results = page.get_by_test_id("vote-result")
    await expect(results).to_have_count(3)
    await expect(results.nth(2)).to_have_attribute("data-count", "1")
    await expect(results.nth(0)).to_have_attribute("data-count", "0")
    await shot(page, "life-vote-results-zh")
    with superuser() as conn:
        closed = conn.execute("select closes_at <= now() from votes where id = %s", (vote_id,)).fetchone()
        tallies = conn.execute(
            "select choice, count from vote_tallies where vote_id = %s order by choice", (vote_id,)
        ).fetchall()
    assert closed == (True,) and [tuple(t) for t in tallies] == [(0, 0), (1, 0), (2, 1)]

    await use_language(page, "en")
    await expect(results.nth(2)).to_contain_text("1 vote")
    await shot(page, "life-vote-results-en")
    await page.goto(f"/#/votes?node={community}")
    await expect(page.locator(f"[data-testid=vote-row][data-vote-id='{vote_id}']")).to_have_attribute(
        "data-state", "closed"
    )


# Sharing -------------------------------------------------------------------------------------------------


@pytest.fixture
def items_made() -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with superuser() as conn:
        for item in made:
            conn.execute("delete from notifications where payload->>'item_id' = %s", (str(item),))
            conn.execute("delete from share_loans where item_id = %s", (item,))
            conn.execute("delete from share_items where id = %s", (item,))


async def test_staff_keep_a_tool_lend_it_and_see_it_overdue(
    phone: Page, resident: dict[str, Any], items_made: list[int], tag: str
) -> None:
    from playwright.async_api import expect

    page = phone
    community = node_by_name("木棉岭社区")[0]
    title = f"电锤 {tag}"
    await sign_in(page, STAFF)
    await page.goto(f"/#/sharing/items?node={community}")
    await page.get_by_test_id("item-new").click()
    await page.get_by_test_id("item-title").fill(title)
    await page.get_by_test_id("item-description").fill("借用请登记")
    await page.get_by_test_id("item-submit").click()
    row = page.get_by_test_id("item-row").filter(has_text=title)
    await expect(row).to_have_attribute("data-status", "open")
    item_id = int(await row.get_attribute("data-item-id") or 0)
    items_made.append(item_id)
    with superuser() as conn:
        stored = conn.execute(
            "select service_code, kind, node_id, status from share_items where id = %s", (item_id,)
        ).fetchone()
    assert stored == ("prop_tool_box", "offer", community, "open")
    await shot(page, "life-share-items-phone-zh")

    asked = await resident["http"].post(f"{APP}/share-items/{item_id}/loans", headers=resident["headers"])
    assert asked.status_code == 201, asked.text
    loan_id = asked.json()["id"]
    await page.goto(f"/#/sharing/loans?node={community}")
    loan = page.locator(f"[data-testid=loan-row][data-loan-id='{loan_id}']")
    await expect(loan).to_have_attribute("data-status", "requested")
    await expect(loan).to_contain_text(RESIDENT_NAME)
    await loan.get_by_test_id("loan-lend").click()
    await page.get_by_test_id("loan-due").fill((datetime.now(SHANGHAI) + timedelta(days=5)).strftime("%Y-%m-%dT20:00"))
    await page.get_by_test_id("loan-lend-submit").click()
    await expect(loan).to_have_attribute("data-status", "lent")
    await expect(loan).to_have_attribute("data-overdue", "false")
    with superuser() as conn:
        lent = conn.execute(
            "select l.status, l.due_at, i.status from share_loans l join share_items i on i.id = l.item_id"
            " where l.id = %s",
            (loan_id,),
        ).fetchone()
    assert lent is not None and lent[0] == "lent" and lent[2] == "lent"
    assert lent[1].astimezone(SHANGHAI).strftime("%H:%M") == "20:00"

    with superuser() as conn:
        conn.execute("update share_loans set due_at = now() - interval '1 day' where id = %s", (loan_id,))
    await page.get_by_test_id("loans-overdue").click()
    await expect(loan).to_have_attribute("data-overdue", "true")
    await expect(loan.get_by_test_id("loan-overdue")).to_be_visible()
    await shot(page, "life-share-loans-overdue-phone-zh")
    await use_language(page, "en")
    await expect(loan.get_by_test_id("loan-overdue")).to_have_text("Overdue")
    await shot(page, "life-share-loans-overdue-phone-en")
    await loan.get_by_test_id("loan-return").click()
    await expect(loan).to_have_attribute("data-status", "returned")
    await expect(loan).to_have_attribute("data-overdue", "false")
    with superuser() as conn:
        back = conn.execute(
            "select l.status, l.returned_at is not null, i.status from share_loans l"
            " join share_items i on i.id = l.item_id where l.id = %s",
            (loan_id,),
        ).fetchone()
    assert back == ("returned", True, "open")


# Phone ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_the_life_pages_fit_a_phone(phone: Page, lang: str) -> None:
    from playwright.async_api import expect

    community = node_by_name("木棉岭社区")[0]
    await sign_in(phone, STAFF)
    if lang == "en":
        await use_language(phone, "en")
    short = "zh" if lang == "zh-CN" else "en"
    pages = {
        "activities": "activity-row",
        "bookings": "resource-row",
        "points?tab=rewards": "reward-row",
        "votes": "vote-row",
        "sharing/items": "item-row",
    }
    for path, testid in pages.items():
        joiner = "&" if "?" in path else "?"
        await phone.goto(f"/#/{path}{joiner}node={community}")
        await expect(phone.get_by_test_id(testid).first).to_be_visible()
        wide = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} scrolls sideways on a phone by {wide}px"
        await shot(phone, f"life-{path.split('?')[0].replace('/', '-')}-phone-{short}")
    await phone.goto(f"/#/bookings?node={community}")
    await phone.get_by_test_id("resource-calendar").first.click()
    await expect(phone.get_by_test_id("week-day")).to_have_count(7)
    wide = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the week calendar scrolls sideways on a phone by {wide}px"
    await shot(phone, f"life-week-phone-{short}")
