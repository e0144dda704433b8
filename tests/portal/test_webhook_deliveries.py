"""A webhook's recent deliveries in the console: each with its state, attempts and last error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.portal.conftest import shot, sign_in
from tests.tenants.support import node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

ADMIN = "admin@luohu.demo"


async def test_an_administrator_reads_an_endpoints_failed_delivery_and_its_error(page: Page) -> None:
    from playwright.async_api import expect

    community_id, community_path = node_by_name("木棉岭社区")
    url = "https://hooks.example.org/linli-deliveries"
    with superuser() as conn:  # an endpoint, and what the delivery job leaves after its last failed attempt
        row = conn.execute(
            "insert into webhook_endpoints (node_id, node_path, url, secret) values (%s, %s::ltree, %s, 's') "
            "returning id",
            (community_id, community_path, url),
        ).fetchone()
        assert row is not None
        hook = int(row[0])
        conn.execute(
            "insert into notifications (node_path, channel, address, kind, title, payload, state, attempts, "
            "last_error) values (%s::ltree, 'webhook', %s, 'event.created', 't', %s::jsonb, 'failed', 5, %s)",
            (community_path, url, json.dumps({"endpoint_id": hook}), "webhook: HTTP 503"),
        )

    await sign_in(page, ADMIN)
    await page.goto(f"/#/people?node={community_id}")
    await page.get_by_role("tab", name="Webhook").click()
    row = page.get_by_test_id("webhook-row").filter(has_text=url)
    await row.get_by_test_id("webhook-show-deliveries").click()
    delivery = row.get_by_test_id("webhook-delivery")
    await expect(delivery).to_have_count(1)
    await expect(delivery).to_have_attribute("data-state", "failed")
    await expect(delivery).to_contain_text("webhook: HTTP 503")
    await expect(delivery).to_contain_text("尝试 5 次")
    await expect(delivery).to_contain_text("失败")
    await shot(page, "webhook-deliveries-zh", full_page=False)
