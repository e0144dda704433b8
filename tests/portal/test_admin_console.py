"""Administration in the console (issue 12, items 1–4): onboarding a community through the wizard, the
invited administrator setting a password from the link and seeing only that community, a community
administrator inviting a grid worker who sees only the grid, and staff switching a resident-app
service off. Each step is checked on the page and in the database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx

from linli.platform.security import sha256_hex
from tests.portal.conftest import PHONE, shot, sign_in
from tests.tenants.support import node_by_name, not_onboarded_community, scalar, superuser

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

NEW_PASSWORD = "Lin-li admin 2026!"
LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="red"/></svg>'


@asynccontextmanager
async def fresh_phone(browser: Browser, server: str) -> AsyncIterator[Page]:
    """Another person's phone: a browser context of its own (no shared sign-in)."""
    context = await browser.new_context(base_url=server, locale="zh-CN", viewport=PHONE, is_mobile=True)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def in_english(page: Page) -> None:
    await page.evaluate("localStorage.setItem('linli.lang', 'en')")
    await page.reload()


async def accept_invitation(page: Page, link: str, shot_name: str, *, english: bool = False) -> None:
    """Opens the link, shows the strength of a weak then a good password, and lands in the console."""
    from playwright.async_api import expect

    await page.goto(link)
    if english:
        await in_english(page)
        await expect(page.get_by_test_id("invite-submit")).to_have_text("Set password and sign in")
    await page.get_by_test_id("invite-password").fill("short")
    await expect(page.get_by_test_id("invite-strength")).to_have_attribute("data-level", "0")
    await page.get_by_test_id("invite-password").fill(NEW_PASSWORD)
    await expect(page.get_by_test_id("invite-strength")).to_have_attribute("data-level", "4")
    await page.get_by_test_id("invite-confirm").fill(NEW_PASSWORD)
    await shot(page, shot_name)
    await page.get_by_test_id("invite-submit").click()
    await expect(page.get_by_test_id("node-breadcrumb")).to_be_visible()


async def assert_home(page: Page, name: str) -> None:
    """The breadcrumb holds just the user's own node: nothing above it is visible."""
    from playwright.async_api import expect

    crumbs = page.get_by_test_id("node-breadcrumb").locator(".el-breadcrumb__item")
    await expect(crumbs).to_have_count(1)
    await expect(crumbs.locator("strong")).to_have_text(name)


async def top_nodes(page: Page) -> list[str]:
    """The first level of the node picker's tree: the only nodes the user may start from."""
    from playwright.async_api import expect

    await page.get_by_test_id("node-picker").click()
    tree = page.get_by_test_id("node-tree")
    await expect(tree.locator(".el-tree-node__content").first).to_be_visible()
    names = await tree.locator(":scope > .el-tree-node > .el-tree-node__content").all_inner_texts()
    await page.keyboard.press("Escape")
    return [n.strip() for n in names]


async def test_onboarding_then_the_new_administrator_invites_a_grid_worker(
    page: Page, browser: Browser, server: str
) -> None:
    from playwright.async_api import expect

    # The last plain community of Wuhou (the API suites onboard the first ones).
    community_id, community_path = not_onboarded_community("d510107", skip=-1)
    name = str(scalar("select name from nodes where id = %s", community_id))
    slug = f"ui-{community_id}"
    admin_email = f"admin-{community_id}@example.org"

    await sign_in(page, "admin@wuhou.demo")
    await page.goto("/#/tenants")
    await expect(page.get_by_test_id("tenant-row").first).to_be_visible()
    in_wuhou = int(scalar("select count(*) from tenants where node_path <@ 'd510107'::ltree"))
    await expect(page.get_by_test_id("tenant-row")).to_have_count(in_wuhou)
    nanhong_users = int(
        scalar(
            "select count(distinct user_id) from role_grants where node_path <@ "
            "(select node_path from tenants where slug = 'nanhong')"
        )
    )
    nanhong = page.locator('[data-testid="tenant-row"][data-slug="nanhong"]')
    await expect(nanhong.locator('[data-count="users"] strong')).to_have_text(str(nanhong_users))
    await expect(nanhong).to_contain_text("南虹村社区")
    await expect(page.locator(".el-loading-mask")).to_have_count(0)
    await shot(page, "admin-tenants-zh")
    await page.get_by_test_id("onboard-start").click()
    await page.get_by_test_id("onboard-node-search").fill(name)
    await page.locator(f'[data-testid="onboard-node-results"] [data-node-id="{community_id}"]').click()
    await expect(page.get_by_test_id("onboard-picked")).to_contain_text(name)
    await page.get_by_test_id("onboard-next").click()
    await page.get_by_test_id("onboard-slug").fill("Bad Slug")
    await page.get_by_test_id("onboard-next").click()
    await expect(page.get_by_test_id("onboard-error")).to_be_visible()
    await page.get_by_test_id("onboard-slug").fill(slug)
    await page.get_by_test_id("onboard-next").click()
    await page.get_by_test_id("onboard-admin-email").fill(admin_email)
    await page.get_by_test_id("onboard-next").click()
    await page.get_by_test_id("onboard-app-name").fill(f"{name}邻里")
    await page.get_by_test_id("onboard-logo").set_input_files(
        files=[{"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": LOGO}]
    )
    await expect(page.get_by_test_id("logo-current")).to_be_visible()
    await page.get_by_test_id("onboard-next").click()
    await expect(page.get_by_test_id("onboard-service-party_news")).to_be_visible()
    await page.get_by_test_id("onboard-service-party_news").click()  # start without party news
    await page.get_by_test_id("onboard-next").click()
    await expect(page.get_by_test_id("onboard-review")).to_contain_text(admin_email)
    await shot(page, "admin-onboard-review-zh")
    await page.get_by_test_id("onboard-submit").click()
    link_box = page.get_by_test_id("onboard-invitation-link")
    await expect(link_box).to_be_visible()
    link = await link_box.input_value()
    assert "/#/invite?token=" in link
    await shot(page, "admin-onboard-done-zh")

    with superuser() as conn:
        row = conn.execute(
            "select id, status, node_id, branding->>'app_name', branding->>'logo_url' from tenants where slug = %s",
            (slug,),
        ).fetchone()
        assert row is not None and row[1:4] == ("active", community_id, f"{name}邻里")
        assert row[4].startswith("data:image/svg+xml;base64,")
        tenant_id = row[0]
        grant = conn.execute(
            """select g.role, u.has_password from role_grants g join users u on u.id = g.user_id
               where u.email = %s and g.node_id = %s""",
            (admin_email, community_id),
        ).fetchone()
        assert grant == ("community_admin", False)
        switched = conn.execute(
            "select enabled from tenant_services where tenant_id = %s and service_code = 'party_news'", (tenant_id,)
        ).fetchone()
        assert switched == (False,)

    # The administrator opens the link on their phone, sets a password and sees only the community.
    async with fresh_phone(browser, server) as admin:
        await accept_invitation(admin, link, "admin-invite-accept-zh")
        await assert_home(admin, name)
        assert await top_nodes(admin) == [f"{name} · 社区"]
        assert scalar("select has_password from users where email = %s", admin_email) is True

        # …and invites a grid worker at the community's first grid.
        with superuser() as conn:
            grid = conn.execute(
                "select id, coalesce(name_en, name) from nodes"
                " where level = 'grid' and node_path <@ %s::ltree order by code limit 1",
                (community_path,),
            ).fetchone()
        assert grid is not None
        grid_id, grid_name_en = int(grid[0]), str(grid[1])
        await admin.goto(f"/#/people?node={grid_id}")
        await admin.get_by_test_id("people-invite").click()
        worker_email = f"grid-{community_id}@example.org"
        await admin.get_by_test_id("invite-email").fill(worker_email)
        await admin.get_by_test_id("invite-name").fill("新网格员")
        await admin.get_by_test_id("invite-role").click()
        await admin.get_by_role("option", name="网格员").click()
        await admin.get_by_test_id("invite-send").click()
        worker_link = await admin.get_by_test_id("secret-once").input_value()
        assert "/#/invite?token=" in worker_link
        await admin.keyboard.press("Escape")
        await expect(admin.locator(".el-overlay:visible")).to_have_count(0)
        row = admin.get_by_test_id("user-row").filter(has_text="新网格员")
        await expect(row.get_by_test_id("grant-role")).to_have_text("网格员")
        await shot(admin, "admin-people-zh")
        await in_english(admin)
        await expect(row.get_by_test_id("grant-role")).to_have_text("Grid worker")
        await shot(admin, "admin-people-en")
        assert (
            scalar(
                "select g.role from role_grants g join users u on u.id = g.user_id"
                " where u.email = %s and g.node_id = %s",
                worker_email,
                grid_id,
            )
            == "grid_worker"
        )

    async with fresh_phone(browser, server) as worker:
        await accept_invitation(worker, worker_link, "admin-invite-grid-worker-en", english=True)
        await assert_home(worker, grid_name_en)
        assert await top_nodes(worker) == [f"{grid_name_en} · Grid"]
        # Readers see who works in their grid, and nobody above it; a grid worker invites no one.
        await worker.goto(f"/#/people?node={grid_id}")
        await expect(worker.get_by_test_id("user-row")).to_have_count(1)
        await expect(worker.get_by_test_id("user-row")).to_contain_text("新网格员")
        await expect(worker.get_by_test_id("people-invite")).to_have_count(0)

    # The worker forgets the password: the link the e-mail carries leads to a page that sets a new one.
    token = secrets.token_urlsafe(32)
    with superuser() as conn:
        conn.execute(
            """insert into user_tokens (purpose, token_hash, user_id, expires_at)
               select 'reset', %s, id, now() + interval '1 hour' from users where email = %s""",
            (sha256_hex(token), worker_email),
        )
    async with fresh_phone(browser, server) as worker:
        await worker.goto("/#/login")
        await worker.get_by_test_id("login-forgot").click()
        await expect(worker.get_by_test_id("reset-login")).to_be_visible()
        await worker.goto(f"/#/reset-password?token={token}")
        await worker.get_by_test_id("invite-password").fill("Another grid pass 9")
        await worker.get_by_test_id("invite-confirm").fill("Another grid pass 9")
        await shot(worker, "admin-reset-password-zh")
        await worker.get_by_test_id("invite-submit").click()
        await expect(worker.get_by_test_id("login-submit")).to_be_visible()
        await sign_in(worker, worker_email, "Another grid pass 9")
        assert scalar("select used_at is not null from user_tokens where token_hash = %s", sha256_hex(token)) is True

    # The district administrator's page has sat through the other accounts' steps: sign in afresh.
    await page.evaluate("sessionStorage.clear()")
    await sign_in(page, "admin@wuhou.demo")
    await in_english(page)
    await page.goto("/#/tenants")
    await expect(page.get_by_test_id("tenant-row").filter(has_text=name)).to_contain_text("Active")
    await expect(page.locator(".el-loading-mask")).to_have_count(0)
    await shot(page, "admin-tenants-en")


async def test_staff_switches_a_service_off_and_the_app_no_longer_lists_it(page: Page, server: str) -> None:
    from playwright.async_api import expect

    tenant_id = int(scalar("select id from tenants where slug = 'nanhong'"))
    nanhong_id, _ = node_by_name("南虹村社区")
    code = "party_news"
    assert (
        scalar("select enabled from tenant_services where tenant_id = %s and service_code = %s", tenant_id, code)
        is True
    )
    await sign_in(page, "staff@nanhong.demo")
    await page.goto(f"/#/app-setup?node={nanhong_id}")
    preview = page.get_by_test_id("app-preview")
    await expect(preview.locator(f'[data-preview-code="{code}"]')).to_have_count(1)
    try:
        await page.get_by_test_id(f"service-toggle-{code}").click()
        await expect(preview.locator(f'[data-preview-code="{code}"]')).to_have_count(0)
        await shot(page, "admin-app-setup-zh")
        assert (
            scalar("select enabled from tenant_services where tenant_id = %s and service_code = %s", tenant_id, code)
            is False
        )
        async with httpx.AsyncClient(base_url=server) as anyone:
            config = (await anyone.get("/api/v1/app/nanhong/config")).json()
        assert code not in {s["code"] for section in config["sections"] for s in section["services"]}

        # The keyboard's alternative to dragging: the second service of a section moves up.
        rows = page.locator("[data-section] ").first.get_by_test_id("service-row")
        first, second = [await rows.nth(i).get_attribute("data-code") for i in (0, 1)]
        async with page.expect_response(lambda r: r.url.endswith("/services/order") and r.ok):
            await page.get_by_test_id(f"service-up-{second}").click()
        await expect(rows.first).to_have_attribute("data-code", str(second))
        positions = dict(
            superuser()
            .execute(
                "select service_code, position from tenant_services where tenant_id = %s and service_code = any(%s)",
                (tenant_id, [first, second]),
            )
            .fetchall()
        )
        assert positions[second] < positions[first]
        async with page.expect_response(lambda r: r.url.endswith("/services/order") and r.ok):
            await page.get_by_test_id(f"service-up-{first}").click()  # back as it was
        await expect(rows.first).to_have_attribute("data-code", str(first))
        await in_english(page)
        await expect(page.get_by_test_id(f"service-toggle-{code}")).to_be_visible()
        await expect(page.locator(".el-loading-mask")).to_have_count(0)
        await shot(page, "admin-app-setup-en")
    finally:
        with superuser() as conn:
            conn.execute(
                "update tenant_services set enabled = true where tenant_id = %s and service_code = %s",
                (tenant_id, code),
            )
