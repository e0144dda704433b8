"""Importing a community's ledger (台账): people, their households and care categories from a workbook
(.xlsx) or a CSV file, as community offices keep them.

Columns are recognised by their usual Chinese (or English) headers; a mapping names the others. Every
row is checked before anything is stored (identity number with its check character, phone, gender,
care categories by code or name, the place: estate › building › unit › room of the node imported into),
and a bad row is reported (row, column, code, message) without stopping the good ones. A dry run only
reports. The import is idempotent: a person is matched by the keyed hash of the identity number (without
one: by name within the household), a household by its estate, unit and room, so importing the same
ledger twice stores it once. Rows go in with COPY into a staging table and a few set-based statements
(`ResidentRepository.import_ledger`), so 98 000 rows take seconds, not a request each.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import BadRequest
from linli.platform.hierarchy.service import NodeService
from linli.residents.crypto import IdNumberCodec
from linli.residents.models import LedgerImport
from linli.residents.repository import LedgerPerson, ResidentRepository
from linli.residents.schemas import validate_id_number

FIELDS = ("estate", "building", "unit", "room", "name", "id_number", "phone", "gender", "care_categories")
REQUIRED = ("building", "unit", "room", "name")
# The headers community ledgers use, and ours in English.
HEADERS: Mapping[str, str] = {
    **{h: "estate" for h in ("小区", "小区名称", "院落", "estate")},
    **{h: "building" for h in ("楼栋", "楼号", "楼栋号", "栋", "building")},
    **{h: "unit" for h in ("单元", "单元号", "unit")},
    **{h: "room" for h in ("房号", "房间号", "门牌号", "室", "room")},
    **{h: "name" for h in ("姓名", "name")},
    **{h: "id_number" for h in ("身份证号", "身份证号码", "公民身份号码", "证件号码", "id_number")},
    **{h: "phone" for h in ("联系电话", "电话", "手机", "手机号", "手机号码", "phone")},
    **{h: "gender" for h in ("性别", "gender")},
    **{h: "care_categories" for h in ("关爱类别", "关爱对象类别", "人员类别", "care_categories")},
}
GENDERS: Mapping[str, str] = {"男": "male", "女": "female", "male": "male", "female": "female", "other": "other"}
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,30}$")
PLACE_SUFFIXES = ("号楼", "单元", "栋", "幢", "号", "座")
ERRORS_SHOWN = 1_000
Progress = Callable[[int, int], Awaitable[None]]


class LedgerError(BadRequest):
    """The file as a whole cannot be read (not a workbook or CSV, no header, a required column missing)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    code: str
    message: str


@dataclass
class LedgerReport:
    rows: int = 0
    valid: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    households_created: int = 0
    people_created: int = 0
    people_updated: int = 0
    people_unchanged: int = 0
    stored: bool = False

    def refuse(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append(error)


# --- reading -----------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a room or building typed as a number
    return str(value).strip()


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """The first sheet of a workbook, or a CSV file (UTF-8, with or without BOM, or GB 18030), as rows
    of text; the first row is the header."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise LedgerError("the file is not an Excel workbook (.xlsx)", code="ledger_unreadable") from exc
        try:
            sheet = book.worksheets[0]
            return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    if filename.lower().endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
        raise LedgerError("the CSV file is neither UTF-8 nor GB 18030 text", code="ledger_unreadable")
    raise LedgerError("a ledger is an Excel workbook (.xlsx) or a CSV file", code="ledger_unreadable")


def check_mapping(mapping: Mapping[str, str]) -> None:
    for target in mapping.values():
        if target not in FIELDS:
            message = f"unknown field in the mapping: {target} (one of {', '.join(FIELDS)})"
            raise LedgerError(message, code="bad_mapping")


def columns_of(header: Sequence[str], mapping: Mapping[str, str]) -> dict[str, int]:
    """Field → column index, from the recognised headers and the caller's mapping (header → field)."""
    check_mapping(mapping)
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        name = mapping.get(title) or HEADERS.get(title) or HEADERS.get(title.lower())
        if name and name not in found:
            found[name] = index
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        raise LedgerError(
            f"no column for {', '.join(missing)}: name it with a known header (楼栋, 单元, 房号, 姓名) or a mapping",
            code="ledger_columns_missing",
        )
    return found


# --- checking ------------------------------------------------------------------------------------------


def place_key(name: str) -> str:
    """Buildings and units compare by their number: 1, 1栋, 1号楼 and 1幢 are the same building."""
    key = name.strip().lower()
    for suffix in PLACE_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


@dataclass(frozen=True)
class Estate:
    id: int
    path: str
    name: str
    units: dict[tuple[str, str], int]  # (building key, unit key) → the unit's location id


@dataclass
class Checker:
    """Turns rows into people to store, or errors; knows the node's estates and the care categories."""

    header: Sequence[str]
    columns: dict[str, int]
    estates: list[Estate]
    categories: dict[str, str]  # code, Chinese or English name → code
    seen_ids: dict[str, int] = field(default_factory=dict)

    def _value(self, row: Sequence[str], name: str) -> str:
        index = self.columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    def _title(self, name: str) -> str:
        index = self.columns.get(name)
        return self.header[index] if index is not None else name

    def check(self, line: int, row: Sequence[str], report: LedgerReport) -> LedgerPerson | None:
        def refuse(name: str, code: str, message: str) -> None:
            report.refuse(RowError(line, self._title(name), code, message))

        values = {name: self._value(row, name) for name in FIELDS}
        missing = [name for name in REQUIRED if not values[name]]
        for name in missing:
            refuse(name, "missing_value", "this column must have a value")
        if missing:
            return None
        estate = self._estate(values["estate"])
        if estate is None:
            known = "、".join(e.name for e in self.estates[:5])
            refuse("estate", "unknown_estate", f"no estate of that name here ({known}…)")
            return None
        unit_id = estate.units.get((place_key(values["building"]), place_key(values["unit"])))
        if unit_id is None:
            refuse("unit", "unknown_unit", f"{estate.name} has no unit {values['building']} {values['unit']}")
            return None
        ok = True
        id_number: str | None = None
        if values["id_number"]:
            try:
                id_number = validate_id_number(values["id_number"])
            except ValueError as exc:
                refuse("id_number", "bad_id_number", str(exc))
                ok = False
            else:
                assert id_number is not None
                first = self.seen_ids.setdefault(id_number, line)
                if first != line:
                    refuse("id_number", "duplicate_id_number", f"the same identity number as row {first}")
                    ok = False
        if values["phone"] and not PHONE.match(values["phone"]):
            refuse("phone", "bad_phone", "not a phone number")
            ok = False
        gender = GENDERS.get(values["gender"].lower()) if values["gender"] else None
        if values["gender"] and gender is None:
            refuse("gender", "unknown_gender", "男 or 女 (male or female)")
            ok = False
        care: list[str] = []
        for term in filter(None, re.split(r"[,，、;；/\s]+", values["care_categories"])):
            code = self.categories.get(term) or self.categories.get(term.lower())
            if code is None:
                refuse("care_categories", "unknown_care_category", f"no care category {term}")
                ok = False
            else:
                care.append(code)
        if not ok:
            return None
        return LedgerPerson(
            line=line,
            estate_id=estate.id,
            estate_path=estate.path,
            location_id=unit_id,
            room=values["room"][:32],
            name=values["name"],
            phone=values["phone"] or None,
            gender=gender,
            birth_year=_birth_year(id_number),
            id_number=id_number,
            care_categories=sorted(set(care)),
        )

    def _estate(self, name: str) -> Estate | None:
        if not name:
            return self.estates[0] if len(self.estates) == 1 else None
        return next((e for e in self.estates if e.name == name), None)


def _estates(rows: Sequence[Sequence[Any]]) -> list[Estate]:
    estates: dict[int, Estate] = {}
    for estate_id, path, name, building, unit, unit_id in rows:
        estate = estates.setdefault(estate_id, Estate(estate_id, path, name, {}))
        if unit_id is not None:
            estate.units.setdefault((place_key(building), place_key(unit)), int(unit_id))
    return list(estates.values())


def _birth_year(id_number: str | None) -> int | None:
    if id_number and len(id_number) == 18 and id_number[:17].isdigit():
        year = int(id_number[6:10])
        return year if 1900 <= year <= datetime.now(UTC).year else None
    return None


# --- importing -------------------------------------------------------------------------------------------


async def import_ledger(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_id: int,
    table: Sequence[Sequence[str]],
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    actor_label: str = "command line",
) -> LedgerReport:
    """Checks every row of `table` (header first) for the node (an estate, or a community and its estates
    named in a 小区 column) and, unless `dry_run`, stores the good ones. `actor` None: the operator at
    the command line (system scope). Never commits."""
    node = await NodeService(session).get_for(actor, node_id, Permission("residents", "create"))
    if not table:
        raise LedgerError("the file is empty", code="ledger_empty")
    repo = ResidentRepository(session)
    header = [h.strip() for h in table[0]]
    checker = Checker(
        header=header,
        columns=columns_of(header, mapping or {}),
        estates=_estates(await repo.estates_with_units(node.node_path)),
        categories=await repo.care_category_names(),
    )
    if not checker.estates:
        raise LedgerError("the node has no estate to import into", code="ledger_no_estate")
    report = LedgerReport(rows=len(table) - 1)
    people: list[LedgerPerson] = []
    step = max(1, report.rows // 100)
    for index, row in enumerate(table[1:], start=1):
        if not any(cell.strip() for cell in row):
            report.rows -= 1  # a blank line is not a row
            continue
        person = checker.check(index + 1, row, report)  # rows as the spreadsheet numbers them
        if person is not None:
            people.append(person)
        if progress is not None and index % step == 0:
            await progress(index, report.rows)
    report.valid = len(people)
    if dry_run or not people:
        return report
    counts = await repo.import_ledger(node.node_path, people, IdNumberCodec())
    report.households_created, report.people_created, report.people_updated = counts
    report.people_unchanged = report.valid - report.people_created - report.people_updated
    report.stored = True
    await audit.record(
        session,
        actor=actor,
        action="resident.import",
        object_type="resident",
        object_id=None,
        node_path=node.node_path,
        after={
            "node_id": node.id,
            "rows": report.rows,
            "errors": report.error_count,
            "households_created": report.households_created,
            "people_created": report.people_created,
            "people_updated": report.people_updated,
        },
        actor_label=None if actor is not None else actor_label,
    )
    return report


def parse_mapping(entries: Sequence[str]) -> dict[str, str]:
    """`header=field` pairs, as the command line takes them."""
    mapping: dict[str, str] = {}
    for entry in entries:
        header, sep, target = entry.partition("=")
        if not sep or not header.strip() or not target.strip():
            raise LedgerError(f"a mapping is header=field, not {entry!r}", code="bad_mapping")
        mapping[header.strip()] = target.strip()
    return mapping


def read_file(path: Path) -> list[list[str]]:
    return read_table(path.read_bytes(), path.name)


# --- as a job --------------------------------------------------------------------------------------------

JOB = "residents_import_ledger"
PROGRESS_TTL_S = 86_400


def progress_key(import_id: uuid.UUID) -> str:
    return f"linli:ledger-import:{import_id}"


async def start_import(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int,
    filename: str,
    data: bytes,
    mapping: Mapping[str, str],
    dry_run: bool,
) -> LedgerImport:
    """Keeps an uploaded ledger for the worker, which imports it after this transaction commits."""
    node = await NodeService(session).get_for(actor, node_id, Permission("residents", "create"))
    if not filename.lower().endswith((".xlsx", ".csv")):
        raise LedgerError("a ledger is an Excel workbook (.xlsx) or a CSV file", code="ledger_unreadable")
    if not data:
        raise LedgerError("the file is empty", code="ledger_empty")
    check_mapping(mapping)
    job = LedgerImport(
        id=uuid.uuid4(),
        node_id=node.id,
        node_path=node.node_path,
        filename=filename[:200],
        dry_run=dry_run,
        mapping=dict(mapping),
        status="queued",
        data=data,
        created_by=actor.id if actor.kind == "user" else None,
    )
    ResidentRepository(session).add(job)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="resident.import_upload",
        object_type="ledger_import",
        object_id=job.id,
        node_path=node.node_path,
        after={"filename": job.filename, "bytes": len(data), "dry_run": dry_run, "node_id": node.id},
    )
    from linli.platform.jobs import enqueue  # its worker settings import the wiring, which imports us

    enqueue(session, JOB, str(job.id))
    return job


async def run_import(session: AsyncSession, *, import_id: uuid.UUID) -> LedgerImport | None:
    """The worker's side: reads the kept file, imports it, keeps the report and drops the file. A job
    run twice finds the import no longer queued and does nothing."""
    repo = ResidentRepository(session)
    job = await repo.queued_ledger_import(import_id)
    if job is None:
        return None
    from linli.platform.jobs import pool

    redis = await pool()
    key = progress_key(job.id)

    async def progress(done: int, total: int) -> None:
        await redis.set(key, f"{done}/{total}", ex=PROGRESS_TTL_S)

    try:
        table = read_table(job.data or b"", job.filename)
        report = await import_ledger(
            session,
            actor=None,
            node_id=job.node_id,
            table=table,
            mapping=job.mapping,
            dry_run=job.dry_run,
            progress=progress,
            actor_label=f"ledger import {job.id}",
        )
    except LedgerError as exc:
        job.status, job.error = "failed", exc.message
    else:
        job.status, job.report = "done", dataclasses.asdict(report)
        await progress(report.rows, report.rows)
    job.data, job.finished_at = None, datetime.now(UTC)
    await session.flush()
    return job


async def get_import(
    session: AsyncSession, *, actor: Principal, import_id: uuid.UUID
) -> tuple[LedgerImport, str | None]:
    """An import the caller may read, with its progress (`done/total`) while the worker is at it."""
    job = await access_object(
        session,
        actor,
        await ResidentRepository(session).ledger_import(import_id),
        permission=("residents", "read"),
        what="ledger import",
    )
    progress = None
    if job.status in ("queued", "running"):
        from linli.platform.jobs import pool

        raw = await (await pool()).get(progress_key(job.id))
        progress = raw.decode() if isinstance(raw, bytes) else raw
    return job, progress
