"""The ledger import page: community staff upload a workbook at an estate, watch it checked by the
worker's job and read each bad row; a dry run stores nothing, a real run stores the good rows."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from linli.platform.db import dispose_engines
from linli.residents.jobs import residents_import_ledger
from tests.portal.conftest import shot, sign_in
from tests.residents.test_ledger import BAD, GOOD, valid_id, workbook, wrong_check
from tests.tenants.support import node_by_name, superuser

if TYPE_CHECKING:
    from playwright.async_api import Page

STAFF = "staff@mumianling.demo"


def latest_import() -> str:
    with superuser() as conn:
        row = conn.execute("select id::text from ledger_imports order by created_at desc limit 1").fetchone()
    assert row is not None
    return str(row[0])


def stored(names: list[str]) -> set[str]:
    with superuser() as conn:
        return {str(r[0]) for r in conn.execute("select name from people where name = any(%s)", (names,))}


async def run_worker_job() -> str:
    """What the worker does with the queued import (the test server runs no worker)."""
    import_id = latest_import()
    try:
        await residents_import_ledger(None, import_id)
    finally:
        await dispose_engines()
    return import_id


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[Path, list[str]]:
    """The workbook of the registry tests with names of its own (so the rows stored are this test's),
    and the names of its good rows."""
    tag = uuid.uuid4().hex[:4]
    year = random.randint(1950, 1999)  # identity numbers of their own too: a person is matched by hers
    numbers: dict[str, str] = {}

    def renumbered(number: str) -> str:
        if number and number not in numbers:
            fresh = valid_id(900 + len(numbers), year)
            numbers[number] = fresh if number == valid_id(int(number[14:17]), int(number[6:10])) else wrong_check(fresh)
        return numbers.get(number, "")

    # Rooms of its own too, so the registry tests still find none of their households here.
    rows = [[f"{r[0]}{tag}" if r[0] else "", renumbered(r[1]), *r[2:6], f"{tag}{r[6]}", r[7]] for r in GOOD + BAD]
    path = tmp_path / "悦峰尚府台账.xlsx"
    path.write_bytes(workbook(rows))
    return path, [f"{r[0]}{tag}" for r in GOOD]


async def test_staff_check_a_ledger_see_each_bad_row_then_import_the_good_ones(
    page: Page, ledger: tuple[Path, list[str]]
) -> None:
    from playwright.async_api import expect

    path, good_names = ledger
    estate_id, _ = node_by_name("悦峰尚府")
    await sign_in(page, STAFF)
    await page.goto(f"/#/ledger-import?node={estate_id}")
    await expect(page.get_by_test_id("ledger-node")).to_contain_text("悦峰尚府")
    await page.get_by_test_id("ledger-file").set_input_files(str(path))
    await expect(page.get_by_test_id("ledger-dry-run").locator("input")).to_be_checked()  # checking comes first
    await page.get_by_test_id("ledger-submit").click()
    await expect(page.get_by_test_id("ledger-job")).to_have_attribute("data-status", "queued")
    await run_worker_job()

    await expect(page.get_by_test_id("ledger-job")).to_have_attribute("data-status", "done")
    summary = page.get_by_test_id("ledger-summary")
    await expect(summary).to_contain_text("共 9 行：4 行有效，5 行有误")
    await expect(summary).to_contain_text("仅检查：未写入任何数据")
    rows = page.get_by_test_id("ledger-error-row")
    await expect(rows).to_have_count(5)
    await expect(rows.first).to_have_attribute("data-row", "6")
    await expect(rows.nth(1)).to_contain_text("身份证号")
    await shot(page, "ledger-dry-run-zh")
    assert stored(good_names) == set()

    await page.get_by_test_id("ledger-dry-run").click()
    await page.get_by_test_id("ledger-submit").click()
    await expect(page.get_by_test_id("ledger-job")).to_have_attribute("data-status", "queued")
    await run_worker_job()
    await expect(summary).to_contain_text("新增人员 4 人")
    assert stored(good_names) == set(good_names)
    await shot(page, "ledger-imported-zh")
