"""Community life in the resident app at 390×844 (issue 14, part A): the demo resident signs up to an activity
and cancels, books a free slot and cancels it, and redeems a reward; each step checked on the screen and in
the database. The activity, resource, reward and points grant are made here (unique names) and removed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from linli.activities import service as activities
from linli.activities.schemas import ActivityIn
from linli.bookings import service as bookings
from linli.bookings.schemas import ResourceIn
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.points import service as points
from linli.tenants.service import now
from tests.conftest import Login
from tests.portal.conftest import shot
from tests.portal.test_events_console import scalar_user
from tests.portal.test_resident_app import sign_in_to_app
from tests.tenants.support import node_by_name, superuser, tenant_id

if TYPE_CHECKING:
    from playwright.async_api import Page

RESIDENT = "13800000001"  # 悦峰尚府, 木棉岭社区
SLUG = "mumianling"
ZONE = ZoneInfo("Asia/Shanghai")


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


@pytest.fixture
async def activity(server: str) -> AsyncIterator[dict[str, Any]]:
    community = node_by_name("木棉岭社区")[0]
    start = now() + timedelta(days=4)
    data = ActivityIn(
        node_id=community,
        service="com_activities",
        title=unique("界面测试·社区读书会"),
        place="党群服务中心二楼",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        signup_deadline=start - timedelta(hours=6),
        capacity=3,
        volunteer_hours=Decimal("1.5"),
    )
    async with scoped_session(SYSTEM_SCOPE) as s:
        made = await activities.create_activity(s, actor=None, data=data)
        out = {"id": made.id, "title": made.title}
    yield out
    with superuser() as conn:
        conn.execute("delete from activities where id = %s", (out["id"],))


@pytest.fixture
async def resource(server: str) -> AsyncIterator[dict[str, Any]]:
    community = node_by_name("木棉岭社区")[0]
    data = ResourceIn.model_validate(
        {
            "node_id": community,
            "service": "com_space_booking",
            "name": unique("界面测试·乒乓球室"),
            "kind": "room",
            "opens": "09:00",
            "closes": "18:00",
            "slot_minutes": 60,
            "weekly_limit": 1,
            "cancel_before_minutes": 60,
        }
    )
    async with scoped_session(SYSTEM_SCOPE) as s:
        made = await bookings.create_resource(s, actor=None, data=data)
        out = {"id": made.id, "name": made.name}
    yield out
    with superuser() as conn:
        conn.execute("delete from resources where id = %s", (out["id"],))


@pytest.fixture
async def reward(server: str) -> AsyncIterator[dict[str, Any]]:
    """A reward of 30 points and a grant of 100 to the resident, both undone afterwards."""
    community, community_path = node_by_name("木棉岭社区")
    estate = node_by_name("悦峰尚府")[1]
    tenant = tenant_id(SLUG)
    user = scalar_user(RESIDENT)
    reference = f"test:{uuid.uuid4().hex}"
    name = unique("界面测试·环保水杯")
    async with scoped_session(SYSTEM_SCOPE) as s:
        made = await points.create_reward(
            s, actor=None, node_id=community, name=name, name_en=f"Test cup {name[-6:]}", cost=30, stock=5
        )
        moved = await points.move(
            s,
            actor=None,
            tenant=(tenant, community_path),
            user_id=uuid.UUID(user),
            resident_path=estate,
            kind="adjust",
            amount=100,
            reason="adjustment",
            reference=reference,
            note="界面测试",
        )
        assert moved is not None
        out = {"id": made.id, "name": name, "cost": 30, "balance": moved[1], "user": user, "tenant": tenant}
    yield out
    with superuser() as conn:
        rows = conn.execute(
            "select id, amount from points_movements where reward_id = %s or reference = %s", (out["id"], reference)
        ).fetchall()
        ids = [r[0] for r in rows]
        conn.execute("delete from points_entries where movement_id = any(%s)", (ids,))
        conn.execute("delete from points_movements where id = any(%s)", (ids,))
        conn.execute(
            "update points_accounts set balance = balance - %s where user_id = %s and tenant_id = %s",
            (sum(r[1] for r in rows), user, tenant),
        )
        conn.execute("delete from points_rewards where id = %s", (out["id"],))


async def open_service(phone: Page, code: str) -> None:
    """From the services tab, as a resident finds it."""
    from playwright.async_api import expect

    await phone.get_by_test_id("tab-services").click()
    await phone.get_by_test_id(f"service-{code}").click()
    await expect(phone.locator(".van-nav-bar__title")).not_to_be_empty()


async def in_english(phone: Page) -> None:
    await phone.evaluate("localStorage.setItem('linli.lang', 'en')")
    await phone.reload()


async def asked(phone: Page, text: str) -> None:
    """The confirmation dialog is up (its opening animation over, for the screenshot) and names `text`."""
    from playwright.async_api import expect

    dialog = phone.locator(".app-confirm")
    await expect(dialog).to_contain_text(text)
    await dialog.evaluate("el => Promise.all(el.getAnimations({ subtree: true }).map(a => a.finished))")


async def confirm(phone: Page) -> None:
    from playwright.async_api import expect

    await phone.locator(".app-confirm .van-dialog__confirm").click()
    await expect(phone.locator(".app-confirm")).to_be_hidden()


async def fits(phone: Page) -> None:
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390


def signup_of(activity_id: int, user: str) -> tuple[str, int] | None:
    with superuser() as conn:
        row = conn.execute(
            "select s.status, a.taken from activity_signups s join activities a on a.id = s.activity_id"
            " where s.activity_id = %s and s.user_id = %s",
            (activity_id, user),
        ).fetchone()
    return (row[0], row[1]) if row else None


async def test_a_resident_signs_up_to_an_activity_sees_the_check_in_code_and_cancels(
    phone: Page, activity: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    user = scalar_user(RESIDENT)
    await sign_in_to_app(phone, SLUG, RESIDENT)
    await open_service(phone, "com_activities")
    card = phone.get_by_test_id(f"activity-{activity['id']}")
    await expect(card).to_contain_text(activity["title"])
    await expect(card.get_by_test_id("activity-places")).to_have_text("名额剩余 3 / 3")
    await expect(card.get_by_test_id("my-status")).to_have_count(0)
    await card.scroll_into_view_if_needed()
    await shot(phone, "app-signup-list-zh")
    await fits(phone)

    await card.get_by_text(activity["title"]).click()
    await expect(phone.get_by_test_id("activity-detail")).to_contain_text("党群服务中心二楼")
    await phone.get_by_test_id("signup-button").click()
    await expect(phone.get_by_test_id("my-status")).to_have_text("已报名")
    await expect(phone.get_by_test_id("activity-places")).to_contain_text("剩余 2 / 3")
    assert signup_of(activity["id"], user) == ("confirmed", 1)
    # The check-in code shows as a QR image (an SVG read with the resident's token).
    await phone.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=checkin-qr]');"
        " return !!img && img.complete && img.naturalWidth > 0 }"
    )
    await shot(phone, "app-signup-confirmed-zh")
    await fits(phone)

    await in_english(phone)
    await expect(phone.get_by_test_id("my-status")).to_have_text("Signed up")
    await expect(phone.get_by_test_id("checkin-qr")).to_be_visible()
    await shot(phone, "app-signup-confirmed-en")
    await phone.get_by_test_id("cancel-signup").click()
    await asked(phone, activity["title"])
    await shot(phone, "app-signup-cancel-confirm-en", full_page=False)
    await confirm(phone)
    await expect(phone.get_by_test_id("my-status")).to_have_text("Cancelled")
    await expect(phone.get_by_test_id("signup-button")).to_be_visible()
    await expect(phone.get_by_test_id("checkin-qr")).to_have_count(0)
    assert signup_of(activity["id"], user) == ("cancelled", 0)
    await phone.go_back()
    await expect(phone.get_by_test_id(f"activity-{activity['id']}").get_by_test_id("my-status")).to_have_text(
        "Cancelled"
    )
    await shot(phone, "app-signup-list-en")


def booking_of(resource_id: int) -> int:
    with superuser() as conn:
        row = conn.execute(
            "select id from bookings where resource_id = %s order by id limit 1", (resource_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_the_check_in_qr_code_is_an_svg_for_a_held_place_only(
    http: httpx.AsyncClient, login: Login, activity: dict[str, Any]
) -> None:
    resident = await login(RESIDENT)
    url = f"/api/v1/app/{SLUG}/activities/{activity['id']}"
    assert (await http.post(f"{url}/checkin-code.svg", headers=resident)).status_code == 404
    assert (await http.post(f"{url}/signup", headers=resident)).status_code == 201
    qr = await http.post(f"{url}/checkin-code.svg", headers=resident)
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.lstrip().startswith("<?xml") and "<svg" in qr.text
    assert (await http.post(f"{url}/signup/cancel", headers=resident)).status_code == 200
    assert (await http.post(f"{url}/checkin-code.svg", headers=resident)).status_code == 404


def live_bookings(resource_id: int) -> list[tuple[str, datetime, str]]:
    with superuser() as conn:
        rows = conn.execute(
            "select u.phone, b.starts_at, b.status from bookings b join users u on u.id = b.user_id"
            " where b.resource_id = %s order by b.id",
            (resource_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_a_resident_books_a_free_slot_meets_the_weekly_limit_and_cancels(
    phone: Page, http: httpx.AsyncClient, login: Login, resource: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    tomorrow = (now().astimezone(ZONE) + timedelta(days=1)).date()
    ten = datetime.combine(tomorrow, time(10), tzinfo=ZONE)
    await sign_in_to_app(phone, SLUG, RESIDENT)
    await open_service(phone, "com_space_booking")
    card = phone.get_by_test_id(f"resource-{resource['id']}")
    await expect(card).to_contain_text("每人每周最多 1 次")
    await card.scroll_into_view_if_needed()
    await shot(phone, "app-booking-resources-zh")
    await card.click()
    await phone.get_by_test_id(f"day-{tomorrow.isoformat()}").click()
    slot = phone.get_by_test_id("slot-10:00")
    await expect(slot).to_have_attribute("data-state", "free")
    await expect(phone.get_by_test_id("slot-09:00")).to_be_visible()
    await expect(phone.get_by_test_id("slot-17:00")).to_be_visible()
    await expect(phone.get_by_test_id("slot-18:00")).to_have_count(0)  # the last slot ends at closing
    await slot.click()
    await expect(phone.get_by_test_id("book-button")).to_contain_text("10:00")
    await shot(phone, "app-booking-slots-zh")
    await fits(phone)
    await phone.get_by_test_id("book-button").click()
    await expect(slot).to_have_attribute("data-state", "mine")
    await expect(slot).to_be_disabled()
    assert live_bookings(resource["id"]) == [(RESIDENT, ten, "booked")]
    # Anyone else asking for the day is told the slot is taken.
    slots = await http.get(
        f"/api/v1/app/{SLUG}/resources/{resource['id']}/slots",
        params={"day": tomorrow.isoformat()},
        headers=await login(RESIDENT),
    )
    assert {s["starts_at"]: s["free"] for s in slots.json()["items"]}[ten.isoformat()] is False

    # A second slot the same week goes over the limit: the refusal is shown, nothing is booked.
    await phone.get_by_test_id("slot-11:00").click()
    await phone.get_by_test_id("book-button").click()
    await expect(phone.locator(".van-toast")).to_contain_text("本周预约次数已达上限")
    await expect(phone.get_by_test_id("slot-11:00")).to_have_attribute("data-state", "free")
    assert len(live_bookings(resource["id"])) == 1

    await in_english(phone)
    await expect(phone.get_by_test_id("slot-10:00")).to_contain_text("Mine")
    await shot(phone, "app-booking-slots-en")
    await phone.go_back()
    await phone.get_by_role("tab", name="My bookings").click()
    booking_id = booking_of(resource["id"])
    mine = phone.get_by_test_id(f"my-booking-{booking_id}")
    await expect(mine).to_contain_text(resource["name"])
    await expect(mine.get_by_test_id("booking-status")).to_have_text("Booked")
    await shot(phone, "app-booking-mine-en")
    await mine.get_by_test_id("cancel-booking").click()
    await confirm(phone)
    await expect(mine.get_by_test_id("booking-status")).to_have_text("Cancelled")
    await expect(mine.get_by_test_id("cancel-booking")).to_have_count(0)
    assert live_bookings(resource["id"]) == [(RESIDENT, ten, "cancelled")]


def redemption_of(reward_id: int) -> list[tuple[int, int, int]]:
    """The reward's movements: (amount, number of entries, sum of entries)."""
    with superuser() as conn:
        rows = conn.execute(
            "select m.amount, count(e.id), coalesce(sum(e.amount), 0) from points_movements m"
            " left join points_entries e on e.movement_id = m.id where m.reward_id = %s group by m.id",
            (reward_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def balance_of(user: str, tenant: int) -> int:
    with superuser() as conn:
        row = conn.execute(
            "select balance from points_accounts where user_id = %s and tenant_id = %s", (user, tenant)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_resident_redeems_a_reward_and_the_balance_and_ledger_follow(
    phone: Page, reward: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    before = reward["balance"]
    await sign_in_to_app(phone, SLUG, RESIDENT)
    await open_service(phone, "com_points_mall")
    balance = phone.get_by_test_id("points-balance")
    await expect(balance).to_have_text(f"{before:,}")
    row = phone.get_by_test_id(f"reward-{reward['id']}")
    await expect(row).to_contain_text(reward["name"])
    await expect(row).to_contain_text("30 积分")
    await expect(row).to_contain_text("剩余 5 件")
    await row.scroll_into_view_if_needed()
    await shot(phone, "app-points-rewards-zh")
    await fits(phone)

    await row.get_by_test_id("redeem-button").click()
    await asked(phone, reward["name"])
    await shot(phone, "app-points-redeem-confirm-zh", full_page=False)
    await confirm(phone)
    await expect(balance).to_have_text(f"{before - reward['cost']:,}")
    await expect(row).to_contain_text("剩余 4 件")
    assert balance_of(reward["user"], reward["tenant"]) == before - reward["cost"]
    # One movement of the cost, its two entries (the resident's and the pool's) summing to zero.
    assert redemption_of(reward["id"]) == [(-reward["cost"], 2, 0)]

    await phone.get_by_role("tab", name="积分明细").click()
    newest = phone.locator('[data-testid^="movement-"]').first
    await expect(newest).to_contain_text("兑换礼品")
    await expect(newest).to_contain_text(reward["name"])
    await expect(newest.get_by_test_id("amount")).to_have_text("-30")
    await expect(phone.locator('[data-testid^="movement-"]').nth(1)).to_contain_text("界面测试")
    await shot(phone, "app-points-statement-zh")

    await in_english(phone)
    await expect(phone.get_by_test_id("points-balance")).to_have_text(f"{before - reward['cost']:,}")
    # The tab stays in the URL: the reload shows the statement again.
    await expect(phone.locator('[data-testid^="movement-"]').first).to_contain_text("Reward redeemed")
    await shot(phone, "app-points-statement-en")
    await phone.get_by_role("tab", name="Rewards").click()
    await expect(phone.get_by_test_id(f"reward-{reward['id']}")).to_contain_text("30 points")
    await shot(phone, "app-points-rewards-en")
