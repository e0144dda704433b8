from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import AwareDatetime

from linli.care import service
from linli.care.permissions import CareManage, CareRead, CareVisit
from linli.care.schemas import (
    AlertOut,
    AwayIn,
    AwayOut,
    CategoryOverview,
    OverviewOut,
    PersonCareOut,
    ProfileIn,
    ProfileOut,
    SensorIn,
    SensorOut,
    VisitOut,
)
from linli.platform.access import DbSession, Principal
from linli.platform.ids import Id
from linli.platform.masking import mask_name
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from linli.platform.settings import get_settings
from linli.residents import service as residents

router = APIRouter(prefix="/api/v1/care", tags=["care"])


def _visit_out(row: Any, principal: Principal, today: date) -> VisitOut:
    full = service.sees_full_at(principal, row.node_path)
    return VisitOut(
        id=row.id,
        person_id=row.person_id,
        person_name=row.name if full else mask_name(row.name),
        room=row.room,
        care_categories=list(row.care_categories),
        node_path=str(row.node_path),
        due_on=row.due_on,
        status=row.status,
        overdue=row.status == "open" and row.due_on < today,
        visited_at=row.visited_at,
        note=row.note,
        has_photo=row.has_photo,
        escalated_at=row.escalated_at,
    )


def _person_out(principal: Principal, care: service.PersonCare) -> PersonCareOut:
    p = care.profile
    today = service.local_today(service.utcnow())
    return PersonCareOut(
        person=residents.person_out(principal, care.record),
        profile=ProfileOut(
            not_seen_hours=p.not_seen_hours,
            quiet_start=p.quiet_start,
            quiet_end=p.quiet_end,
            family_contacts=p.family_contacts if service.sees_full_at(principal, p.node_path) else [],
            category_hours=care.category_hours,
            effective_hours=p.not_seen_hours or care.category_hours,
        ),
        sensors=[SensorOut.model_validate(s, from_attributes=True) for s in care.sensors],
        away=[AwayOut.model_validate(a, from_attributes=True) for a in care.away],
        alerts=[
            AlertOut(
                id=a.id,
                silent_since=a.silent_since,
                opened_at=a.opened_at,
                cleared_at=a.cleared_at,
                event_id=str(a.event_id) if a.event_id else None,
            )
            for a in care.alerts
        ],
        visits=[_visit_out(v, principal, today) for v in care.visits],
    )


@router.get("/people/{person_id}", operation_id="get_person_care")
async def get_person_care(person_id: Id, session: DbSession, principal: CareRead) -> PersonCareOut:
    return _person_out(principal, await service.person_care(session, actor=principal, person_id=person_id))


@router.put("/people/{person_id}/profile", operation_id="set_person_care_profile")
async def set_profile(person_id: Id, body: ProfileIn, session: DbSession, principal: CareManage) -> PersonCareOut:
    return _person_out(principal, await service.set_profile(session, actor=principal, person_id=person_id, body=body))


@router.post("/people/{person_id}/sensors", status_code=201, operation_id="link_care_sensor")
async def link_sensor(person_id: Id, body: SensorIn, session: DbSession, principal: CareManage) -> PersonCareOut:
    await service.link_sensor(session, actor=principal, person_id=person_id, device_id=body.device_id, role=body.role)
    return _person_out(principal, await service.person_care(session, actor=principal, person_id=person_id))


@router.delete("/sensors/{sensor_id}", status_code=204, operation_id="unlink_care_sensor")
async def unlink_sensor(sensor_id: Id, session: DbSession, principal: CareManage) -> Response:
    await service.unlink_sensor(session, actor=principal, sensor_id=sensor_id)
    return Response(status_code=204)


@router.post("/people/{person_id}/away", status_code=201, operation_id="add_care_away")
async def add_away(person_id: Id, body: AwayIn, session: DbSession, principal: CareManage) -> AwayOut:
    away = await service.add_away(session, actor=principal, person_id=person_id, body=body)
    return AwayOut.model_validate(away, from_attributes=True)


@router.get("/visits", operation_id="list_care_visits")
async def list_visits(
    session: DbSession,
    principal: CareRead,
    node_id: Annotated[int | None, Query(description="only visits in this node's subtree")] = None,
    person_id: Id | None = None,
    status: Literal["open", "done"] | None = None,
    overdue: Annotated[bool, Query(description="only open visits past their due date")] = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[VisitOut]:
    rows = await service.list_visits(
        session,
        actor=principal,
        node_id=node_id,
        person_id=person_id,
        status=status,
        overdue=overdue,
        after_id=decode_int_cursor(cursor),
        limit=limit,
    )
    today = service.local_today(service.utcnow())
    return Page(
        items=[_visit_out(r, principal, today) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.post("/visits/{visit_id}/complete", operation_id="complete_care_visit")
async def complete_visit(
    visit_id: Id,
    session: DbSession,
    principal: CareVisit,
    photo: Annotated[UploadFile, File(description="a JPEG, PNG or WebP photo of the visit")],
    note: Annotated[str, Form(min_length=1, max_length=2000)],
    visited_at: Annotated[AwareDatetime | None, Form(description="when the visit took place (default now)")] = None,
    notify_family: Annotated[bool, Form(description="text the person's family contacts")] = False,
) -> VisitOut:
    limit = get_settings().events_max_attachment_bytes
    row = await service.complete_visit(
        session,
        actor=principal,
        visit_id=visit_id,
        note=note,
        photo=await photo.read(limit + 1),
        visited_at=visited_at,
        notify_family=notify_family,
    )
    return _visit_out(row, principal, service.local_today(service.utcnow()))


@router.get("/visits/{visit_id}/photo", operation_id="get_care_visit_photo")
async def visit_photo(visit_id: Id, session: DbSession, principal: CareRead) -> Response:
    content_type, data = await service.visit_photo(session, actor=principal, visit_id=visit_id)
    headers = {"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"}
    return Response(data, media_type=content_type, headers=headers)


@router.get("/overview", operation_id="care_overview")
async def care_overview(
    session: DbSession,
    principal: CareRead,
    node_id: Annotated[Id | None, Query(description="default: the caller's own node")] = None,
    days: Annotated[int, Query(ge=1, le=366, description="window for visits done and the on-time rate")] = 30,
) -> OverviewOut:
    node, since, until, rows = await service.overview(session, actor=principal, node_id=node_id, days=days)
    categories = [
        CategoryOverview(
            category=r.category,
            people=r.people,
            open_not_seen=r.open_not_seen,
            visits_due=r.visits_due,
            visits_overdue=r.visits_overdue,
            visits_done=r.visits_done,
            visits_on_time=r.visits_on_time,
        )
        for r in rows
    ]
    total = next((c for c in categories if c.category == "*"), None) or CategoryOverview(
        category="*", people=0, open_not_seen=0, visits_due=0, visits_overdue=0, visits_done=0, visits_on_time=0
    )
    return OverviewOut(
        node_id=node.id,
        since=since,
        until=until,
        people=total.people,
        open_not_seen=total.open_not_seen,
        visits_due=total.visits_due,
        visits_overdue=total.visits_overdue,
        visits_done=total.visits_done,
        on_time_rate=total.visits_on_time / total.visits_done if total.visits_done else None,
        categories=[c for c in categories if c.category != "*"],
    )
