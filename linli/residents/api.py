from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from linli.platform.access import DbSession, Principal
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from linli.residents import ledger, service
from linli.residents.models import Household, LedgerImport
from linli.residents.permissions import ResidentsCreate, ResidentsExport, ResidentsRead, ResidentsUpdate
from linli.residents.schemas import (
    HouseholdCreate,
    HouseholdOut,
    LedgerImportOut,
    LedgerProgress,
    PersonCreate,
    PersonOut,
    PersonUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["residents"])


def _page(principal: Principal, records: list[service.PersonRecord], limit: int) -> Page[PersonOut]:
    cursor = encode_cursor(records[-1].person.id) if len(records) == limit else None
    return Page(items=[service.person_out(principal, r) for r in records], next_cursor=cursor)


@router.get("/residents", operation_id="list_residents")
async def list_residents(
    session: DbSession,
    principal: ResidentsRead,
    node_id: Annotated[int | None, Query(description="only people in this node's subtree")] = None,
    care_category: Annotated[str | None, Query(max_length=64, description="cared-for category code")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=50, description="part of the name")] = None,
    id_number: Annotated[
        str | None, Query(min_length=6, max_length=40, description="exact identity number (matched by its hash)")
    ] = None,
    household_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[PersonOut]:
    records = await service.list_people(
        session,
        actor=principal,
        node_id=node_id,
        care_category=care_category,
        q=q,
        id_number=id_number,
        household_id=household_id,
        after_id=decode_int_cursor(cursor),
        limit=limit,
    )
    return _page(principal, records, limit)


@router.get(
    "/residents/export.csv",
    operation_id="export_residents",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_residents(
    session: DbSession,
    principal: ResidentsExport,
    node_id: Annotated[int | None, Query(description="only people in this node's subtree")] = None,
    care_category: Annotated[str | None, Query(max_length=64, description="cared-for category code")] = None,
) -> Response:
    """The registry as a CSV ledger (UTF-8 with BOM so spreadsheet programs read Chinese correctly)."""
    people = await service.export_people(session, actor=principal, node_id=node_id, care_category=care_category)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(service.EXPORT_COLUMNS)
    for person in people:
        row = person.model_dump()
        row["care_categories"] = ";".join(person.care_categories)
        writer.writerow([_csv_safe(row[c]) for c in service.EXPORT_COLUMNS])
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="residents.csv"'},
    )


def _csv_safe(value: object) -> object:
    """Cells starting with = + - @ would run as formulas in a spreadsheet."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.get("/residents/{person_id}", operation_id="get_resident")
async def get_resident(person_id: Id, session: DbSession, principal: ResidentsRead) -> PersonOut:
    return service.person_out(principal, await service.get_person(session, actor=principal, person_id=person_id))


@router.post("/residents", status_code=201, operation_id="create_resident")
async def create_resident(body: PersonCreate, session: DbSession, principal: ResidentsCreate) -> PersonOut:
    household_id = body.household_id
    if body.household is not None:
        household = await service.create_household(
            session,
            actor=principal,
            node_id=body.household.node_id,
            location_id=body.household.location_id,
            room=body.household.room,
        )
        household_id = household.id
    assert household_id is not None  # the schema requires one of the two
    record = await service.create_person(
        session,
        actor=principal,
        household_id=household_id,
        name=body.name,
        phone=body.phone,
        gender=body.gender,
        birth_year=body.birth_year,
        id_number=body.id_number,
        care_categories=body.care_categories,
    )
    return service.person_out(principal, record)


@router.patch("/residents/{person_id}", operation_id="update_resident")
async def update_resident(
    person_id: Id,
    body: PersonUpdate,
    session: DbSession,
    principal: ResidentsUpdate,
) -> PersonOut:
    changes = body.model_dump(include=body.model_fields_set)
    record = await service.update_person(session, actor=principal, person_id=person_id, changes=changes)
    return service.person_out(principal, record)


def _household_out(household: Household, members: int | None = None) -> HouseholdOut:
    return HouseholdOut(
        id=household.id,
        node_id=household.node_id,
        node_path=household.node_path,
        location_id=household.location_id,
        room=household.room,
        members=members,
        created_at=household.created_at,
    )


@router.get("/households", operation_id="list_households")
async def list_households(
    session: DbSession,
    principal: ResidentsRead,
    node_id: Annotated[int | None, Query(description="only households in this node's subtree")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[HouseholdOut]:
    rows = await service.list_households(
        session, actor=principal, node_id=node_id, after_id=decode_int_cursor(cursor), limit=limit
    )
    next_cursor = encode_cursor(rows[-1][0].id) if len(rows) == limit else None
    return Page(items=[_household_out(h, n) for h, n in rows], next_cursor=next_cursor)


@router.get("/households/{household_id}", operation_id="get_household")
async def get_household(household_id: Id, session: DbSession, principal: ResidentsRead) -> HouseholdOut:
    return _household_out(await service.get_household(session, actor=principal, household_id=household_id))


@router.post("/households", status_code=201, operation_id="create_household")
async def create_household(body: HouseholdCreate, session: DbSession, principal: ResidentsCreate) -> HouseholdOut:
    household = await service.create_household(
        session, actor=principal, node_id=body.node_id, location_id=body.location_id, room=body.room
    )
    return _household_out(household, 0)


LEDGER_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}
    },
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
}


def _import_out(job: LedgerImport, progress: str | None = None) -> LedgerImportOut:
    out = LedgerImportOut.model_validate(job)
    if progress:
        done, _, total = progress.partition("/")
        out.progress = LedgerProgress(done=int(done), total=int(total))
    return out


@router.post(
    "/residents/imports",
    status_code=202,
    operation_id="start_ledger_import",
    openapi_extra={"requestBody": {"required": True, "content": LEDGER_TYPES}},
)
async def start_ledger_import(
    request: Request,
    session: DbSession,
    principal: ResidentsCreate,
    node_id: Annotated[int, Query(description="the estate, or a community whose estates a 小区 column names")],
    filename: Annotated[str, Query(min_length=1, max_length=200, description="the file's name (.xlsx or .csv)")],
    dry_run: Annotated[bool, Query(description="check every row, store nothing")] = False,
    map: Annotated[
        list[str] | None, Query(max_length=20, description="header=field for a header not recognised")
    ] = None,
) -> LedgerImportOut:
    """Upload a ledger (the file as the body): the worker checks and imports it; poll the import for its
    progress and report."""
    job = await ledger.start_import(
        session,
        actor=principal,
        node_id=node_id,
        filename=filename,
        data=await request.body(),
        mapping=ledger.parse_mapping(map or []),
        dry_run=dry_run,
    )
    return _import_out(job)


@router.get("/residents/imports/{import_id}", operation_id="get_ledger_import")
async def get_ledger_import(import_id: uuid.UUID, session: DbSession, principal: ResidentsRead) -> LedgerImportOut:
    job, progress = await ledger.get_import(session, actor=principal, import_id=import_id)
    return _import_out(job, progress)
