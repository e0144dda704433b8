"""Activities: `/api/v1/app/{slug}/signup/{service}/activities` and `/api/v1/app/{slug}/activities/{id}/...`
for residents (a switched-on `signup` service), `/api/v1/activities` for staff."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from linli.activities import service
from linli.activities.models import Activity
from linli.activities.permissions import (
    ActivitiesCheckin,
    ActivitiesCreate,
    ActivitiesRead,
    ActivitiesSignup,
    ActivitiesUpdate,
)
from linli.activities.schemas import ActivityIn, ActivityOut, AppActivity, CheckinCode, CheckinIn, SignupOut
from linli.platform.access import DbSession
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.platform.qr import SVG, SVG_RESPONSE
from linli.residentapp.context import app_context
from linli.services.api import Slug

app_router = APIRouter(prefix="/api/v1/app/{slug}", tags=["activities"])
router = APIRouter(prefix="/api/v1/activities", tags=["activities"])
ServiceCode = Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


def _out(activity: Activity) -> ActivityOut:
    return ActivityOut.model_validate(activity)


@app_router.get("/signup/{signup_service}/activities", operation_id="list_app_activities")
async def list_app_activities(
    slug: Slug, signup_service: str, session: DbSession, principal: ActivitiesRead, limit: Limit = 50
) -> Page[AppActivity]:
    """Open activities the caller may join, soonest first, with their own sign-up (and waitlist place)."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return Page(
        items=await service.app_activities(session, ctx=ctx, service=signup_service, limit=limit), next_cursor=None
    )


@app_router.post("/activities/{activity_id}/signup", status_code=201, operation_id="sign_up_to_activity")
async def sign_up_to_activity(
    slug: Slug, activity_id: Id, session: DbSession, principal: ActivitiesSignup
) -> AppActivity:
    """A place while one is free, else the waitlist (`my_status`); 409 `already_signed_up`, `signup_closed`."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return await service.sign_up(session, ctx=ctx, activity_id=activity_id)


@app_router.post("/activities/{activity_id}/signup/cancel", operation_id="cancel_activity_signup")
async def cancel_activity_signup(
    slug: Slug, activity_id: Id, session: DbSession, principal: ActivitiesSignup
) -> AppActivity:
    """Give the place up: the first in the waitlist takes it and is told."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return await service.cancel_signup(session, ctx=ctx, activity_id=activity_id)


@app_router.post("/activities/{activity_id}/checkin-code", operation_id="issue_activity_checkin_code")
async def issue_activity_checkin_code(
    slug: Slug, activity_id: Id, session: DbSession, principal: ActivitiesSignup
) -> CheckinCode:
    """The code to show (as a QR code) at the venue, for a confirmed place."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return CheckinCode(code=await service.checkin_code(session, ctx=ctx, activity_id=activity_id))


@app_router.post(
    "/activities/{activity_id}/checkin-code.svg",
    operation_id="activity_checkin_qr",
    response_class=Response,
    responses=SVG_RESPONSE,
)
async def activity_checkin_qr(slug: Slug, activity_id: Id, session: DbSession, principal: ActivitiesSignup) -> Response:
    """The check-in code (issued afresh, as the POST above) as a QR code (SVG) for the phone to show."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return Response(await service.checkin_qr(session, ctx=ctx, activity_id=activity_id), media_type=SVG)


@router.get("", operation_id="list_activities")
async def list_activities(
    session: DbSession,
    principal: ActivitiesRead,
    service_code: ServiceCode | None = None,
    node_id: Id | None = None,
    status: Literal["open", "cancelled"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ActivityOut]:
    """Newest first; `node_id` keeps the activities whose audience lies under that node."""
    rows = await service.list_activities(
        session,
        service=service_code,
        node_id=node_id,
        status=status,
        before_id=decode_int_cursor(cursor),
        limit=limit,
    )
    return Page(items=[_out(a) for a in rows], next_cursor=next_cursor(rows, limit))


@router.post("", status_code=201, operation_id="create_activity")
async def create_activity(body: ActivityIn, session: DbSession, principal: ActivitiesCreate) -> ActivityOut:
    return _out(await service.create_activity(session, actor=principal, data=body))


@router.get("/{activity_id}", operation_id="get_activity")
async def get_activity(activity_id: Id, session: DbSession, principal: ActivitiesRead) -> ActivityOut:
    return _out(await service.get_activity(session, actor=principal, activity_id=activity_id))


@router.post("/{activity_id}/cancel", operation_id="cancel_activity")
async def cancel_activity(activity_id: Id, session: DbSession, principal: ActivitiesUpdate) -> ActivityOut:
    """Call the activity off; everyone signed up or waiting is told."""
    return _out(await service.cancel_activity(session, actor=principal, activity_id=activity_id))


@router.get("/{activity_id}/signups", operation_id="list_activity_signups")
async def list_activity_signups(activity_id: Id, session: DbSession, principal: ActivitiesRead) -> Page[SignupOut]:
    """Participants first, then the waitlist in its order, then cancellations."""
    rows = await service.participants(session, actor=principal, activity_id=activity_id)
    return Page(items=[SignupOut.model_validate(s) for s in rows], next_cursor=None)


@router.post("/{activity_id}/checkins", operation_id="check_in_to_activity")
async def check_in_to_activity(
    activity_id: Id, body: CheckinIn, session: DbSession, principal: ActivitiesCheckin
) -> SignupOut:
    """Scan the resident's code: records the volunteer hours and the tenant's check-in points (once)."""
    return SignupOut.model_validate(
        await service.check_in(session, actor=principal, activity_id=activity_id, code=body.code)
    )
