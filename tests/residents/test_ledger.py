"""Importing a ledger: recognised headers, per-row errors, good rows stored set-based, the same ledger
twice stored once, a dry run storing nothing, and the command line's exit codes."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from linli.cli import app
from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from linli.residents import ledger
from linli.residents.crypto import id_number_hash
from linli.residents.schemas import id_check_character
from tests.conftest import Login
from tests.tenants.support import node_by_name

HEADER = ["姓名", "身份证号", "联系电话", "性别", "楼栋", "单元", "房号", "关爱类别"]


def valid_id(serial: int, year: int = 1948) -> str:
    first17 = f"510107{year}0101{serial:03d}"
    return first17 + id_check_character(first17)


def wrong_check(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


GOOD = [
    ["王秀兰", valid_id(901), "13900000901", "女", "1栋", "1单元", "901", "独居老人"],
    ["王建国", valid_id(902), "13900000902", "男", "1", "1", "901", ""],  # same household, plain numbers
    ["赵大爷", valid_id(903, 1939), "", "男", "2号楼", "1单元", "1902", "elderly_alone、serious_illness"],
    ["孙小红", "", "13900000904", "女", "2栋", "1单元", "1902", ""],  # no identity number: matched by name
]
BAD = [
    ["", valid_id(905), "", "", "1栋", "1单元", "903", ""],  # row 6: no name
    ["钱错号", wrong_check(valid_id(906)), "", "", "1栋", "1单元", "904", ""],  # row 7: check character
    ["李无楼", valid_id(907), "", "", "99栋", "1单元", "905", ""],  # row 8: no such building
    ["周类别", valid_id(908), "", "", "1栋", "1单元", "906", "外星人"],  # row 9: no such category
    ["吴重复", valid_id(901), "", "", "1栋", "1单元", "907", ""],  # row 10: the number of row 2 again
]


def workbook(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_file(rows: Sequence[Sequence[str]], header: Sequence[str], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([list(header), *map(list, rows)])
    return out.getvalue().encode(encoding)


async def run_import(db: AsyncSession, data: bytes, filename: str, node: str, **options: Any) -> ledger.LedgerReport:
    await apply_scopes(db, SYSTEM_SCOPE)
    node_id, _ = node_by_name(node)
    return await ledger.import_ledger(
        db, actor=None, node_id=node_id, table=ledger.read_table(data, filename), **options
    )


async def people_named(db: AsyncSession, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = await db.execute(
        text(
            "select p.name, p.phone, p.gender, p.birth_year, p.care_categories, p.id_number_hash, h.room, "
            "p.household_id from people p join households h on h.id = p.household_id where p.name = any(:n)"
        ),
        {"n": list(names)},
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows.mappings():
        assert row["name"] not in found, f"{row['name']} stored twice"
        found[row["name"]] = dict(row)
    return found


async def test_good_rows_are_stored_and_each_bad_row_is_reported_with_its_row_and_column(db: AsyncSession) -> None:
    report = await run_import(db, workbook(GOOD + BAD), "台账.xlsx", "悦峰尚府")

    assert (report.rows, report.valid, report.error_count, report.stored) == (9, 4, 5, True)
    refused = {(e.row, e.column, e.code) for e in report.errors}
    assert refused == {
        (6, "姓名", "missing_value"),
        (7, "身份证号", "bad_id_number"),
        (8, "单元", "unknown_unit"),
        (9, "关爱类别", "unknown_care_category"),
        (10, "身份证号", "duplicate_id_number"),
    }
    assert (report.households_created, report.people_created, report.people_updated) == (2, 4, 0)
    stored = await people_named(db, [r[0] for r in GOOD + BAD if r[0]])
    assert set(stored) == {"王秀兰", "王建国", "赵大爷", "孙小红"}
    wang = stored["王秀兰"]
    assert wang["household_id"] == stored["王建国"]["household_id"] and wang["room"] == "901"
    assert wang["gender"] == "female" and wang["birth_year"] == 1948 and wang["care_categories"] == ["elderly_alone"]
    assert wang["id_number_hash"] == id_number_hash(GOOD[0][1])
    assert stored["赵大爷"]["care_categories"] == ["elderly_alone", "serious_illness"]
    assert stored["孙小红"]["household_id"] == stored["赵大爷"]["household_id"]


async def test_the_same_ledger_twice_is_stored_once_and_a_change_updates_the_person(db: AsyncSession) -> None:
    data = workbook(GOOD)
    first = await run_import(db, data, "a.xlsx", "悦峰尚府")
    again = await run_import(db, data, "a.xlsx", "悦峰尚府")
    assert (first.people_created, first.households_created) == (4, 2)
    assert (again.households_created, again.people_created, again.people_updated, again.people_unchanged) == (
        0,
        0,
        0,
        4,
    )
    moved = [list(r) for r in GOOD]
    moved[0][2], moved[0][6] = "13900009999", "902"  # 王秀兰: a new phone, another room
    changed = await run_import(db, workbook(moved), "b.xlsx", "悦峰尚府")
    assert (changed.households_created, changed.people_created, changed.people_updated) == (1, 0, 1)
    wang = (await people_named(db, ["王秀兰"]))["王秀兰"]
    assert (wang["phone"], wang["room"]) == ("13900009999", "902")


async def test_a_community_ledger_names_its_estates_and_other_headers_are_mapped(db: AsyncSession) -> None:
    header = ["小区", "户主姓名", "证件号码", "楼号", "单元号", "门牌号"]
    rows = [
        ["悦峰尚府", "郑一", valid_id(911), "3栋", "1单元", "301"],
        ["不存在的小区", "郑二", valid_id(912), "1栋", "1单元", "302"],
    ]
    data = csv_file(rows, header, encoding="gb18030")  # as Excel on a Chinese Windows saves CSV
    with pytest.raises(ledger.LedgerError) as refused:
        await run_import(db, data, "community.csv", "木棉岭社区")
    assert refused.value.code == "ledger_columns_missing"  # 户主姓名 is not a header it knows

    report = await run_import(db, data, "community.csv", "木棉岭社区", mapping={"户主姓名": "name"})
    assert (report.valid, report.people_created) == (1, 1)
    assert [(e.row, e.column, e.code) for e in report.errors] == [(3, "小区", "unknown_estate")]
    assert set(await people_named(db, ["郑一", "郑二"])) == {"郑一"}


async def test_a_dry_run_reports_and_stores_nothing(db: AsyncSession) -> None:
    report = await run_import(db, workbook(GOOD + BAD), "dry.xlsx", "悦峰尚府", dry_run=True)
    assert (report.valid, report.error_count, report.stored, report.people_created) == (4, 5, False, 0)
    assert await people_named(db, [r[0] for r in GOOD]) == {}


async def test_a_file_that_is_not_a_ledger_is_refused_whole(db: AsyncSession) -> None:
    with pytest.raises(ledger.LedgerError) as not_a_book:
        await run_import(db, b"PK\x03\x04 not really a zip", "x.xlsx", "悦峰尚府")
    assert not_a_book.value.code == "ledger_unreadable"
    with pytest.raises(ledger.LedgerError) as other_kind:
        ledger.read_table(b"{}", "people.json")
    assert other_kind.value.code == "ledger_unreadable"


def test_the_command_line_checks_a_ledger_and_exits_with_a_code_per_outcome(tmp_path: Path) -> None:
    estate_id, _ = node_by_name("悦峰尚府")
    good, bad, broken = tmp_path / "good.xlsx", tmp_path / "bad.xlsx", tmp_path / "broken.csv"
    good.write_bytes(workbook(GOOD))
    bad.write_bytes(workbook(GOOD + BAD))
    broken.write_bytes(csv_file(GOOD, ["name", "phone"]))
    errors = tmp_path / "errors.csv"
    runner = CliRunner()

    ok = runner.invoke(app, ["residents", "import", str(good), "--node", str(estate_id), "--dry-run"])
    assert ok.exit_code == 0, ok.output
    assert "4 rows, 4 good, 0 refused; dry run: nothing stored" in ok.stdout

    refused = runner.invoke(
        app, ["residents", "import", str(bad), "--node", str(estate_id), "--dry-run", "--errors", str(errors)]
    )
    assert refused.exit_code == 3, refused.output
    with errors.open(encoding="utf-8-sig") as written:
        listed = list(csv.DictReader(written))
    assert [(r["row"], r["code"]) for r in listed][:2] == [("6", "missing_value"), ("7", "bad_id_number")]
    assert len(listed) == 5

    unusable = runner.invoke(app, ["residents", "import", str(broken), "--node", str(estate_id)])
    assert unusable.exit_code == 2
    assert "no column for building, unit, room" in unusable.output
    missing = runner.invoke(app, ["residents", "import", str(tmp_path / "none.xlsx"), "--node", str(estate_id)])
    assert missing.exit_code == 2 and "cannot read" in missing.output


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, filename: str, **params: Any
) -> httpx.Response:
    node_id, _ = node_by_name("悦峰尚府")
    return await client.post(
        "/api/v1/residents/imports",
        params={"node_id": node_id, "filename": filename, **params},
        content=data,
        headers=headers | {"Content-Type": XLSX},
    )


async def test_staff_upload_a_ledger_the_worker_imports_it_and_the_report_is_kept(
    client: httpx.AsyncClient, db: AsyncSession, login: Login
) -> None:
    staff = await login("staff@mumianling.demo")
    started = await upload(client, staff, workbook(GOOD + BAD), "台账.xlsx")
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["status"], job["report"], job["dry_run"]) == ("queued", None, False)

    ran = await ledger.run_import(db, import_id=uuid.UUID(job["id"]))  # what the worker's job does
    assert ran is not None and ran.status == "done"
    assert await ledger.run_import(db, import_id=uuid.UUID(job["id"])) is None  # a second run does nothing

    done = await client.get(f"/api/v1/residents/imports/{job['id']}", headers=staff)
    assert done.status_code == 200, done.text
    report = done.json()["report"]
    assert done.json()["status"] == "done" and done.json()["progress"] is None
    assert (report["valid"], report["error_count"], report["people_created"], report["stored"]) == (4, 5, 4, True)
    first = report["errors"][0]
    assert (first["row"], first["column"], first["code"]) == (6, "姓名", "missing_value") and first["message"]
    assert set(await people_named(db, [r[0] for r in GOOD])) == {r[0] for r in GOOD}
    kept = await db.execute(text("select data is null from ledger_imports where id = :i"), {"i": job["id"]})
    assert kept.scalar_one() is True  # the file is not kept once imported


async def test_a_file_that_is_not_a_ledger_fails_its_import_with_the_reason(
    client: httpx.AsyncClient, db: AsyncSession, login: Login
) -> None:
    staff = await login("staff@mumianling.demo")
    started = await upload(client, staff, b"not a workbook", "x.xlsx")
    assert started.status_code == 202, started.text
    failed = await ledger.run_import(db, import_id=uuid.UUID(started.json()["id"]))
    assert failed is not None and (failed.status, failed.error) == (
        "failed",
        "the file is not an Excel workbook (.xlsx)",
    )
    wrong_kind = await upload(client, staff, b"{}", "people.json")
    assert wrong_kind.status_code == 400 and wrong_kind.json()["error"]["code"] == "ledger_unreadable"
    bad_map = await upload(client, staff, b"x", "a.csv", map=["户主=nickname"])
    assert bad_map.status_code == 400 and bad_map.json()["error"]["code"] == "bad_mapping"


async def test_only_roles_that_add_residents_upload_and_another_tenant_sees_no_import(
    client: httpx.AsyncClient, login: Login
) -> None:
    staff, grid, other = (
        await login("staff@mumianling.demo"),
        await login("grid@mumianling.demo"),
        await login("staff@nanhong.demo"),
    )
    refused = await upload(client, grid, workbook(GOOD), "a.xlsx")
    assert refused.status_code == 403, refused.text
    outside = await upload(client, other, workbook(GOOD), "a.xlsx")
    assert outside.status_code == 404, outside.text  # 悦峰尚府 is not theirs: as if it did not exist
    job = (await upload(client, staff, workbook(GOOD), "a.xlsx")).json()
    hidden = await client.get(f"/api/v1/residents/imports/{job['id']}", headers=other)
    missing = await client.get(f"/api/v1/residents/imports/{uuid.uuid4()}", headers=other)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
