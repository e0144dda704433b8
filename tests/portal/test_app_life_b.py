"""Community life in the resident app at 390×844 (issue 14, part B): a visitor pass issued with its QR code
and revoked; a ballot cast in an open vote whose results stay hidden, and the results of a closed one;
an item put up, a staff-kept tool borrowed, and someone's request to borrow it lent, overdue and taken
back. Each step is checked in the database too; what the tests make is removed afterwards."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import Login
from tests.portal.conftest import shot
from tests.portal.test_events_console import scalar_user
from tests.portal.test_resident_app import sign_in_to_app
from tests.tenants.support import node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

RESIDENT = "13800000001"  # 李悦, 悦峰尚府 in 木棉岭社区
STAFF = "staff@mumianling.demo"
SLUG = "mumianling"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def in_english(phone: Page) -> None:
    """The same page again in English (the language is remembered per browser)."""
    await phone.evaluate("localStorage.setItem('linli.lang', 'en')")
    await phone.reload()


async def confirm(phone: Page) -> None:
    from playwright.async_api import expect

    dialog = phone.locator(".van-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator(".van-dialog__confirm").click()
    await expect(dialog).to_be_hidden()


async def fits(phone: Page) -> bool:
    """Nothing wider than the phone (no sideways scrolling)."""
    width: int = await phone.evaluate("document.documentElement.scrollWidth")
    return width <= 390


# Passes ---------------------------------------------------------------------------------------------


@pytest.fixture
def passes_made() -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with superuser() as conn:
        conn.execute("delete from pass_passages where pass_id = any(%s)", (made,))
        conn.execute("delete from passes where id = any(%s)", (made,))


async def test_a_resident_issues_a_visitor_pass_shows_its_qr_code_and_revokes_it(
    phone: Page, passes_made: list[int]
) -> None:
    from playwright.async_api import expect

    visitor = unique("测试访客")
    await sign_in_to_app(phone, SLUG, RESIDENT)
    await phone.get_by_test_id("tab-services").click()
    await phone.get_by_test_id("service-prop_visitor_pass").click()
    await phone.get_by_test_id("issue-pass").click()
    await phone.get_by_test_id("pass-visitor").locator("input").fill(visitor)
    await phone.get_by_test_id("pass-plate").locator("input").fill("川a12345")
    await phone.get_by_test_id("pass-uses").locator("input").fill("2")
    await shot(phone, "app-pass-issue-zh")
    async with phone.expect_response(lambda r: r.url.endswith("/qr.svg")) as drawn:
        await phone.get_by_test_id("pass-submit").click()
    svg = await drawn.value
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    await phone.wait_for_url(re.compile(r"#/s/pass/prop_visitor_pass/\d+$"))
    pass_id = int(phone.url.rsplit("/", 1)[1])
    passes_made.append(pass_id)
    qr = phone.get_by_test_id("pass-qr")
    await expect(qr).to_have_attribute("src", re.compile(r"^blob:"))
    await phone.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=await qr.element_handle())
    await expect(phone.get_by_test_id("pass-status")).to_have_attribute("data-status", "valid")
    await expect(phone.get_by_test_id("pass-uses-left")).to_contain_text("2 / 2")
    await expect(phone.get_by_test_id("pass-detail")).to_contain_text("川A12345")
    await shot(phone, "app-pass-qr-zh")
    assert await fits(phone)
    with superuser() as conn:
        row = conn.execute(
            "select p.kind, p.visitor_name, p.plate, p.uses_allowed, p.revoked_at, p.service_code, u.phone "
            "from passes p join users u on u.id = p.issued_by where p.id = %s",
            (pass_id,),
        ).fetchone()
    assert row == ("visitor", visitor, "川A12345", 2, None, "prop_visitor_pass", RESIDENT)

    await in_english(phone)
    await expect(phone.get_by_test_id("pass-uses-left")).to_contain_text("2 of 2")
    await expect(phone.get_by_test_id("pass-qr")).to_have_attribute("src", re.compile(r"^blob:"))
    await shot(phone, "app-pass-qr-en")
    await phone.get_by_test_id("revoke-pass").click()
    await expect(phone.locator(".van-dialog")).to_contain_text("cannot be undone")
    await confirm(phone)
    await expect(phone.get_by_test_id("pass-status")).to_have_attribute("data-status", "revoked")
    await expect(phone.get_by_test_id("revoke-pass")).to_have_count(0)
    with superuser() as conn:
        revoked = conn.execute("select revoked_at is not null from passes where id = %s", (pass_id,)).fetchone()
    assert revoked == (True,)

    await phone.go_back()
    listed = phone.get_by_test_id(f"pass-{pass_id}")
    await expect(listed.get_by_test_id("pass-status")).to_have_attribute("data-status", "revoked")
    await shot(phone, "app-passes-en")


# Votes ----------------------------------------------------------------------------------------------


@pytest.fixture
async def votes(http: httpx.AsyncClient, login: Login) -> AsyncIterator[dict[str, Any]]:
    """An open survey of the community's households and a closed anonymous one with its tally."""
    community, _ = node_by_name("木棉岭社区")
    staff = await login(STAFF)
    at = datetime.now(UTC)
    made: dict[str, Any] = {}
    for name, opens, closes, anonymous in (
        ("open", at - timedelta(hours=1), at + timedelta(days=2), False),
        ("closed", at - timedelta(days=3), at - timedelta(days=1), True),
    ):
        body = {
            "node_id": community,
            "service": "com_survey",
            "title": unique(f"楼道绿化方案（{name}）"),
            "options": ["种植花草", "摆放绿植", "保持现状"],
            "anonymous": anonymous,
            "opens_at": opens.isoformat(),
            "closes_at": closes.isoformat(),
        }
        created = await http.post("/api/v1/votes", json=body, headers=staff)
        assert created.status_code == 201, created.text
        made[name] = created.json()
    ids = [v["id"] for v in made.values()]
    with superuser() as conn:  # 22 households voted (anonymously: who, not what) before it closed
        for choice, count in enumerate((7, 12, 3)):
            conn.execute(
                "update vote_tallies set count = %s where vote_id = %s and choice = %s",
                (count, made["closed"]["id"], choice),
            )
        conn.execute(
            "insert into vote_participations (vote_id, voter_key, node_path) "
            "select v.id, 'household:test-' || n, v.node_path from votes v, generate_series(1, 22) n where v.id = %s",
            (made["closed"]["id"],),
        )
    yield made
    with superuser() as conn:
        conn.execute("delete from vote_participations where vote_id = any(%s)", (ids,))
        conn.execute("delete from vote_tallies where vote_id = any(%s)", (ids,))
        conn.execute("delete from votes where id = any(%s)", (ids,))


async def test_a_resident_votes_once_sees_no_results_before_the_close_and_those_of_a_closed_vote(
    phone: Page, votes: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    opened, closed = votes["open"], votes["closed"]
    await sign_in_to_app(phone, SLUG, RESIDENT)
    await phone.goto(f"/app/{SLUG}/#/s/vote/com_survey")
    row = phone.get_by_test_id(f"vote-{opened['id']}")
    await expect(row).to_contain_text(opened["title"])
    await expect(row.get_by_test_id("vote-voted")).to_have_count(0)
    await expect(phone.get_by_test_id(f"vote-{closed['id']}")).to_have_count(0)  # under "closed"
    await shot(phone, "app-votes-zh")
    await row.click()

    await expect(phone.get_by_test_id("vote-detail")).to_have_attribute("data-state", "open")
    await expect(phone.get_by_test_id("vote-results-later")).to_contain_text("投票结束")
    await expect(phone.get_by_test_id("cast-ballot")).to_be_disabled()
    await phone.get_by_test_id("option-1").click()
    await expect(phone.get_by_test_id("option-1").get_by_role("radio")).to_have_attribute("aria-checked", "true")
    await expect(phone.get_by_test_id("cast-ballot")).to_be_enabled()
    await phone.wait_for_timeout(300)  # the picked option's and the button's colour fade in (Vant's 0.2 s)
    await shot(phone, "app-vote-zh")
    await phone.get_by_test_id("cast-ballot").click()
    await expect(phone.locator(".van-dialog")).to_contain_text("摆放绿植")
    await confirm(phone)
    await expect(phone.get_by_test_id("vote-voted")).to_contain_text("您家已投票")
    await expect(phone.get_by_test_id("cast-ballot")).to_have_count(0)
    await expect(phone.get_by_test_id("vote-results")).to_have_count(0)
    await expect(phone.get_by_test_id("vote-results-later")).to_be_visible()
    await shot(phone, "app-vote-cast-zh")
    with superuser() as conn:
        ballots = conn.execute(
            "select voter_key, choice from vote_participations where vote_id = %s", (opened["id"],)
        ).fetchall()
        tally = conn.execute(
            "select choice, count from vote_tallies where vote_id = %s order by choice", (opened["id"],)
        ).fetchall()
    assert len(ballots) == 1 and ballots[0][0].startswith("household:") and ballots[0][1] == 1
    assert tally == [(0, 0), (1, 1), (2, 0)]

    await phone.go_back()
    await expect(phone.get_by_test_id(f"vote-{opened['id']}").get_by_test_id("vote-voted")).to_be_visible()
    await phone.get_by_role("tab", name="已结束").click()
    ended = phone.get_by_test_id(f"vote-{closed['id']}")
    await expect(ended.get_by_test_id("vote-anonymous")).to_be_visible()
    await ended.click()
    results = phone.get_by_test_id("vote-results")
    await expect(results.get_by_test_id("result-1")).to_contain_text("12 票")
    await expect(results).to_contain_text("共 22 票")
    await expect(phone.get_by_test_id("vote-anonymous")).to_be_visible()
    await expect(phone.get_by_test_id("cast-ballot")).to_have_count(0)
    await shot(phone, "app-vote-results-zh")
    assert await fits(phone)

    await in_english(phone)
    await expect(phone.get_by_test_id("vote-results").get_by_test_id("result-1")).to_contain_text("12 votes")
    await shot(phone, "app-vote-results-en")


# Sharing --------------------------------------------------------------------------------------------


@pytest.fixture
async def tool(http: httpx.AsyncClient, login: Login) -> AsyncIterator[dict[str, Any]]:
    """A tool the community's staff keep in the tool box; afterwards it goes, with every item and loan the
    test made (the resident's items are found by the titles the test gave them)."""
    community, _ = node_by_name("木棉岭社区")
    body = {"node_id": community, "service": "prop_tool_box", "kind": "offer", "title": unique("测试电钻")}
    made = await http.post("/api/v1/share-items", json=body, headers=await login(STAFF))
    assert made.status_code == 201, made.text
    item: dict[str, Any] = made.json() | {"offered": unique("测试婴儿推车")}
    yield item
    with superuser() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "select id from share_items where id = %s or title = %s", (item["id"], item["offered"])
            ).fetchall()
        ]
        conn.execute("delete from share_loans where item_id = any(%s)", (ids,))
        conn.execute("delete from share_items where id = any(%s)", (ids,))


async def test_a_resident_offers_an_item_borrows_a_tool_and_lends_to_a_neighbour(
    phone: Page, tool: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    resident, other = scalar_user(RESIDENT), scalar_user(STAFF)
    await sign_in_to_app(phone, SLUG, RESIDENT)
    await phone.goto(f"/app/{SLUG}/#/s/share/prop_tool_box")
    listed = phone.get_by_test_id(f"share-item-{tool['id']}")
    await expect(listed).to_contain_text(tool["title"])
    await expect(listed.get_by_test_id("share-kind")).to_have_text("出借")
    await shot(phone, "app-share-zh")
    await listed.get_by_test_id("request-loan").click()
    await expect(phone.get_by_test_id("borrow-when").locator("input")).not_to_have_value("")
    await phone.get_by_test_id("borrow-send").click()
    await expect(phone.get_by_test_id("borrow-sheet")).to_have_count(0)
    with superuser() as conn:
        asked = conn.execute(
            "select id, borrower_id::text, status, due_at > now() from share_loans where item_id = %s",
            (tool["id"],),
        ).fetchall()
    assert len(asked) == 1 and asked[0][1:] == (resident, "requested", True)

    await phone.get_by_test_id("offer-item").click()
    await phone.get_by_test_id("offer-title").locator("input").fill(tool["offered"])
    await phone.get_by_test_id("offer-description").locator("textarea").fill("九成新，可折叠，请在 2 栋楼下取")
    await shot(phone, "app-share-offer-zh")
    await phone.get_by_test_id("offer-submit").click()
    await phone.wait_for_url(re.compile(r"#/s/share/prop_tool_box$"))
    with superuser() as conn:
        row = conn.execute(
            "select id, kind, service_code, owner_id::text, status from share_items where title = %s",
            (tool["offered"],),
        ).fetchone()
    assert row is not None and row[1:] == ("offer", "prop_tool_box", resident, "open")
    mine = phone.get_by_test_id(f"share-item-{row[0]}")
    await expect(mine).to_contain_text("我发布的")
    await expect(mine.get_by_test_id("request-loan")).to_have_count(0)  # one's own item is not borrowed

    # Someone else asks to borrow it: the row a request makes, written directly (the demo estate has one
    # resident; a staff account stands in for the neighbour).
    with superuser() as conn:
        wish = conn.execute(
            "insert into share_loans (item_id, node_path, borrower_id, status, due_at) "
            "select id, node_path, %s, 'requested', now() + interval '5 days' from share_items where id = %s "
            "returning id",
            (other, row[0]),
        ).fetchone()
    assert wish is not None
    await phone.get_by_test_id("my-loans").click()
    borrowed = phone.get_by_test_id("loans-borrowing").get_by_test_id(f"loan-{asked[0][0]}")
    await expect(borrowed).to_have_attribute("data-status", "requested")
    lent = phone.get_by_test_id("loans-lending").get_by_test_id(f"loan-{wish[0]}")
    await expect(lent).to_contain_text("希望借到")
    await lent.get_by_test_id("lend").click()
    await phone.get_by_test_id("lend-send").click()
    await expect(lent).to_have_attribute("data-status", "lent")
    with superuser() as conn:
        out = conn.execute("select status, due_at > now() from share_loans where id = %s", (wish[0],)).fetchone()
        conn.execute("update share_loans set due_at = now() - interval '1 day' where id = %s", (wish[0],))
    assert out == ("lent", True)

    await phone.reload()
    await expect(lent.get_by_test_id("loan-overdue")).to_have_text("已逾期")
    await shot(phone, "app-share-loans-zh")
    assert await fits(phone)
    await in_english(phone)
    await expect(lent.get_by_test_id("loan-overdue")).to_have_text("Overdue")
    await shot(phone, "app-share-loans-en")
    await lent.get_by_test_id("take-back").click()
    await confirm(phone)
    await expect(lent).to_have_attribute("data-status", "returned")
    with superuser() as conn:
        back = conn.execute(
            "select l.status, l.returned_at is not null, i.status from share_loans l "
            "join share_items i on i.id = l.item_id where l.id = %s",
            (wish[0],),
        ).fetchone()
    assert back == ("returned", True, "open")
    await phone.go_back()
    await expect(phone.get_by_test_id(f"share-item-{row[0]}")).to_contain_text("Mine")
    await shot(phone, "app-share-en")
