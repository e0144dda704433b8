from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from linli.patrol import service
from linli.patrol.permissions import PatrolCheckIn, PatrolCreate, PatrolRead
from linli.patrol.schemas import (
    CheckinOut,
    CheckpointOut,
    PatrolOverview,
    PlanCreate,
    PlanDetail,
    PlanOut,
    RoundCheckpoint,
    RoundOut,
)
from linli.platform.access import DbSession
from linli.platform.errors import BadRequest
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from linli.platform.qr import SVG, SVG_RESPONSE

router = APIRouter(prefix="/api/v1/patrol", tags=["patrol"])


def _round_out(view: service.RoundView) -> RoundOut:
    checked = {k.checkpoint_id: k for k in view.checkins}
    return RoundOut(
        id=view.round.id,
        plan_id=view.plan.id,
        plan_name=view.plan.name,
        assignee_id=view.round.assignee_id,
        due_at=view.round.due_at,
        deadline_at=view.round.deadline_at,
        status=view.round.status,
        completed_at=view.round.completed_at,
        checkpoints=[
            RoundCheckpoint(
                id=c.id,
                position=c.position,
                name=c.name,
                node_id=c.node_id,
                checked=CheckinOut(
                    id=k.id,
                    checkpoint_id=k.checkpoint_id,
                    checked_at=k.checked_at,
                    latitude=k.latitude,
                    longitude=k.longitude,
                    note=k.note,
                    has_photo=k.photo_key is not None,
                    finding_event_id=k.finding_event_id,
                )
                if (k := checked.get(c.id)) is not None
                else None,
            )
            for c in view.checkpoints
        ],
    )


@router.post("/plans", status_code=201, operation_id="create_patrol_plan")
async def create_plan(body: PlanCreate, session: DbSession, principal: PatrolCreate) -> PlanDetail:
    if any(not 0 <= d <= 6 for d in body.weekdays) or any(not 0 <= h <= 23 for h in body.hours):
        raise BadRequest("weekdays are 0-6 and hours 0-23", code="bad_schedule")
    plan = await service.create_plan(
        session,
        actor=principal,
        node_id=body.node_id,
        name=body.name,
        assignee_id=body.assignee_id,
        weekdays=body.weekdays,
        hours=body.hours,
        window_minutes=body.window_minutes,
        checkpoints=[service.CheckpointSpec(c.node_id, c.name, c.location_id) for c in body.checkpoints],
    )
    return await get_plan(plan.id, session, principal)


@router.get("/plans", operation_id="list_patrol_plans")
async def list_plans(
    session: DbSession, principal: PatrolRead, node_id: Id | None = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[PlanOut]:
    plans = await service.list_plans(session, node_id=node_id, after_id=decode_int_cursor(cursor), limit=limit)
    next_cursor = encode_cursor(plans[-1].id) if len(plans) == limit else None
    return Page(items=[PlanOut.model_validate(p) for p in plans], next_cursor=next_cursor)


@router.get("/plans/{plan_id}", operation_id="get_patrol_plan")
async def get_plan(plan_id: Id, session: DbSession, principal: PatrolRead) -> PlanDetail:
    plan, checkpoints = await service.get_plan(session, actor=principal, plan_id=plan_id)
    return PlanDetail(
        **PlanOut.model_validate(plan).model_dump(), checkpoints=[CheckpointOut.model_validate(c) for c in checkpoints]
    )


@router.get(
    "/checkpoints/{checkpoint_id}/qr.svg",
    operation_id="patrol_checkpoint_qr",
    response_class=Response,
    responses=SVG_RESPONSE,
)
async def checkpoint_qr(checkpoint_id: Id, session: DbSession, principal: PatrolRead) -> Response:
    """The checkpoint's QR code, to print and fix at the place."""
    svg = await service.checkpoint_qr(session, actor=principal, checkpoint_id=checkpoint_id)
    return Response(svg, media_type=SVG)


@router.get("/rounds", operation_id="list_patrol_rounds")
async def list_rounds(
    session: DbSession,
    principal: PatrolRead,
    mine: Annotated[bool, Query(description="only the caller's own rounds")] = False,
    node_id: Id | None = None,
    status: Annotated[str | None, Query(pattern="^(open|done|late)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[RoundOut]:
    views = await service.list_rounds(
        session,
        actor=principal,
        mine=mine,
        node_id=node_id,
        status=status,
        after_id=decode_int_cursor(cursor),
        limit=limit,
    )
    next_cursor = encode_cursor(views[-1].round.id) if len(views) == limit else None
    return Page(items=[_round_out(v) for v in views], next_cursor=next_cursor)


@router.get("/rounds/{round_id}", operation_id="get_patrol_round")
async def get_round(round_id: Id, session: DbSession, principal: PatrolRead) -> RoundOut:
    return _round_out(await service.get_round(session, actor=principal, round_id=round_id))


@router.post("/rounds/{round_id}/checkins", status_code=201, operation_id="patrol_check_in")
async def check_in(
    round_id: Id,
    session: DbSession,
    principal: PatrolCheckIn,
    code: Annotated[str, Form(min_length=1, max_length=64, description="the checkpoint's code (its QR code)")],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    latitude: Annotated[float | None, Form(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Form(ge=-180, le=180)] = None,
    finding_item: Annotated[str | None, Form(max_length=64, description="an event item: opens an event here")] = None,
    finding_description: Annotated[str | None, Form(max_length=2000)] = None,
) -> RoundOut:
    """Check in at a checkpoint by its code; a photo follows at `.../checkins/{checkpoint_id}/photo`."""
    finding = service.Finding(finding_item, finding_description or "") if finding_item else None
    _, view = await service.check_in(
        session,
        actor=principal,
        round_id=round_id,
        code=code,
        note=note,
        latitude=latitude,
        longitude=longitude,
        finding=finding,
    )
    return _round_out(view)


@router.post("/rounds/{round_id}/checkins/{checkpoint_id}/photo", status_code=201, operation_id="patrol_checkin_photo")
async def checkin_photo(
    round_id: Id,
    checkpoint_id: Id,
    session: DbSession,
    principal: PatrolCheckIn,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP; stored without its metadata")],
) -> RoundOut:
    view = await service.attach_photo(
        session, actor=principal, round_id=round_id, checkpoint_id=checkpoint_id, data=await file.read()
    )
    return _round_out(view)


@router.get("/overview", operation_id="patrol_overview")
async def overview(
    session: DbSession,
    principal: PatrolRead,
    node_id: Annotated[Id | None, Query(description="default: everything the caller may see")] = None,
    since: Annotated[datetime | None, Query(alias="from", description="default: 30 days ago")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> PatrolOverview:
    """Rounds due in the window under the node, and the on-time rate (the care and field overview's)."""
    end = until or service.utcnow()
    start = since or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("give from and to with a time zone", code="naive_datetime")
    return PatrolOverview(**await service.overview(session, node_id=node_id, since=start, until=end))
