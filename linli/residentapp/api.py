"""The resident app's API: `/api/v1/app/{slug}/...` for the app itself (sign-in, home, reports, notices,
inbox), `/api/v1/{join-requests,notices}` for the console, and the per-tenant web app manifest outside
/api. Forms and their cases have their own module (`forms_api`)."""

from __future__ import annotations

import uuid
from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import notifications
from linli.events.models import Notification
from linli.events.schemas import RatingIn
from linli.platform.access import DbSession, Principal
from linli.platform.http import client_address
from linli.platform.ids import Id
from linli.platform.pagination import (
    Cursor,
    Limit,
    Page,
    decode_int_cursor,
    decode_time_cursor,
    next_cursor,
    next_time_cursor,
)
from linli.residentapp import files, home, notices, reports, signin
from linli.residentapp.context import AppContext, app_context
from linli.residentapp.permissions import (
    AppRead,
    JoinRequestsDecide,
    JoinRequestsRead,
    NoticesCreate,
    NoticesPublish,
    NoticesRead,
    NoticesUpdate,
    ReportsAttach,
    ReportsCreate,
    ReportsRate,
    ReportsRead,
    ReportsTransition,
)
from linli.residentapp.schemas import (
    AppManifest,
    AppNotification,
    CodeRequest,
    CodeSentOut,
    CodeSignInOut,
    CodeVerify,
    HomeOut,
    JoinApprove,
    JoinReject,
    JoinRequestCreate,
    JoinRequestMine,
    JoinRequestOut,
    ManifestIcon,
    NoticeCreate,
    NoticeImage,
    NoticeOut,
    NoticeReceipt,
    NoticeSummary,
    NoticeUpdate,
    NoticeView,
    PlaceEstate,
    ReportCancel,
    ReportCreate,
    ReportDetail,
    ReportLine,
    ReportPhoto,
    ReportSummary,
)
from linli.services.api import Slug
from linli.services.service import tenant_app

app_router = APIRouter(prefix="/api/v1/app/{slug}", tags=["resident app"])
router = APIRouter(prefix="/api/v1", tags=["resident app (console)"])
manifest_router = APIRouter(prefix="/app/{slug}", tags=["resident app"])

# Anyone may call these: sign-in (the caller is not known yet), joining (a join token instead), images of
# published notices (<img> tags carry no credentials) and the web app manifest.
PUBLIC_PATHS = (
    "/api/v1/app/{slug}/auth/*",
    "/api/v1/app/{slug}/join",
    "/api/v1/app/{slug}/join/places",
    "/api/v1/app/{slug}/notices/{notice_id}/images/{image_id}",
    "/app/{slug}/manifest.webmanifest",
    "/app/{slug}/icon.svg",
)
JoinToken = Annotated[str, Header(alias="X-Join-Token", min_length=20, max_length=2000, description="from verify")]


async def _ctx(session: AsyncSession, slug: str, principal: Principal) -> AppContext:
    return await app_context(session, slug=slug, actor=principal)


# Sign-in and joining ---------------------------------------------------------------------------------


@app_router.post("/auth/code", status_code=202, operation_id="request_sign_in_code")
async def request_sign_in_code(slug: Slug, body: CodeRequest, request: Request, session: DbSession) -> CodeSentOut:
    """Send a one-time code by SMS (valid 5 minutes, 5 tries); at most one a minute and 5 an hour per
    phone, 20 an hour per address (`429` with `Retry-After`). The code is never in an answer."""
    return await signin.request_code(session, slug=slug, phone=body.phone, address=client_address(request))


@app_router.post("/auth/verify", operation_id="verify_sign_in_code")
async def verify_sign_in_code(slug: Slug, body: CodeVerify, session: DbSession) -> CodeSignInOut:
    """A right code signs a phone the registry knows here in as that resident; an unknown phone gets a
    join token to ask to join. Accounts holding more than resident grants sign in with their password."""
    return await signin.verify_code(session, slug=slug, phone=body.phone, code=body.code)


@app_router.get("/join/places", operation_id="list_join_places")
async def list_join_places(slug: Slug, join_token: JoinToken, session: DbSession) -> Page[PlaceEstate]:
    """The tenant's estates with their buildings and units, to say where one lives (one page)."""
    return Page(items=await signin.join_places(session, slug=slug, join_token=join_token))


@app_router.post("/join", status_code=201, operation_id="request_to_join")
async def request_to_join(
    slug: Slug, body: JoinRequestCreate, join_token: JoinToken, session: DbSession
) -> JoinRequestMine:
    """Ask to be registered at a place of an estate; staff approve or reject (the answer comes by SMS)."""
    return await signin.request_to_join(
        session,
        slug=slug,
        join_token=join_token,
        name=body.name,
        estate_id=body.estate_id,
        location_id=body.location_id,
        room=body.room,
    )


@router.get("/join-requests", operation_id="list_join_requests")
async def list_join_requests(
    session: DbSession,
    principal: JoinRequestsRead,
    node_id: Id | None = None,
    status: Literal["pending", "approved", "rejected"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[JoinRequestOut]:
    rows = await signin.list_join_requests(
        session, node_id=node_id, status=status, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[signin.join_request_out(principal, r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.get("/join-requests/{request_id}", operation_id="get_join_request")
async def get_join_request(request_id: Id, session: DbSession, principal: JoinRequestsRead) -> JoinRequestOut:
    row = await signin.get_join_request(session, actor=principal, request_id=request_id)
    return signin.join_request_out(principal, row)


@router.post("/join-requests/{request_id}/approve", operation_id="approve_join_request")
async def approve_join_request(
    request_id: Id, body: JoinApprove, session: DbSession, principal: JoinRequestsDecide
) -> JoinRequestOut:
    """Register the applicant (in the named household, or a new one at the place they gave) and grant the
    account `resident` at the estate; they are told by SMS and sign in with a code."""
    row = await signin.approve_join_request(
        session, actor=principal, request_id=request_id, household_id=body.household_id
    )
    return signin.join_request_out(principal, row)


@router.post("/join-requests/{request_id}/reject", operation_id="reject_join_request")
async def reject_join_request(
    request_id: Id, body: JoinReject, session: DbSession, principal: JoinRequestsDecide
) -> JoinRequestOut:
    row = await signin.reject_join_request(session, actor=principal, request_id=request_id, reason=body.reason)
    return signin.join_request_out(principal, row)


# Home, inbox ---------------------------------------------------------------------------------------


@app_router.get("/home", operation_id="get_app_home")
async def get_app_home(slug: Slug, session: DbSession, principal: AppRead) -> HomeOut:
    """Everything the home screen shows, in one answer."""
    return await home.home(session, ctx=await _ctx(session, slug, principal))


@app_router.get("/notifications", operation_id="list_app_notifications")
async def list_app_notifications(
    slug: Slug,
    session: DbSession,
    principal: ReportsRead,
    unread: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AppNotification]:
    """The caller's inbox about this tenant (reports, form cases), newest first."""
    ctx = await _ctx(session, slug, principal)
    rows = await notifications.inbox(
        session,
        actor=principal,
        unread_only=unread,
        before_id=decode_int_cursor(cursor),
        limit=limit,
        within_path=ctx.app.node_path,
    )
    return Page(items=[_notification(n) for n in rows], next_cursor=next_cursor(rows, limit))


def _notification(row: Notification) -> AppNotification:
    case_id = row.payload.get("case_id") if isinstance(row.payload, dict) else None
    return AppNotification(
        id=row.id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        event_id=row.event_id,
        case_id=case_id if isinstance(case_id, int) else None,
        created_at=row.created_at,
        read_at=row.read_at,
    )


@app_router.post("/notifications/{notification_id}/read", operation_id="mark_app_notification_read")
async def mark_app_notification_read(
    slug: Slug, notification_id: Id, session: DbSession, principal: ReportsRead
) -> AppNotification:
    await _ctx(session, slug, principal)
    return _notification(await notifications.mark_read(session, actor=principal, notification_id=notification_id))


# Reports -------------------------------------------------------------------------------------------


@app_router.get("/report-items", operation_id="list_report_items")
async def list_report_items(slug: Slug, session: DbSession, principal: AppRead) -> Page[ReportLine]:
    """The items residents may report (the taxonomy's `resident_report` source), by business line."""
    await _ctx(session, slug, principal)
    return Page(items=await reports.report_items(session))


@app_router.post(
    "/reports",
    status_code=201,
    operation_id="create_report",
    response_model=ReportDetail,
    responses={200: {"model": ReportDetail, "description": "merged into an open report of the same"}},
)
async def create_report(slug: Slug, body: ReportCreate, session: DbSession, principal: ReportsCreate) -> JSONResponse:
    """Report from a `report` service or a free choice of item (随手拍 on); the place defaults to the
    caller's home. The answer shows the promised deadlines; add photos to it afterwards. Items residents
    may not raise are refused (`400 item_not_allowed_for_source`), as are switched-off services."""
    ctx = await _ctx(session, slug, principal)
    event, merged = await reports.create_report(session, ctx=ctx, body=body)
    detail = await reports.report_detail(session, ctx=ctx, event_id=event.id, merged=merged)
    return JSONResponse(detail.model_dump(mode="json"), status_code=200 if merged else 201)


@app_router.get("/reports", operation_id="list_my_reports")
async def list_my_reports(
    slug: Slug,
    session: DbSession,
    principal: ReportsRead,
    state: Literal["open", "done", "all"] = "all",
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ReportSummary]:
    """The caller's own reports here, newest first (`open` includes resolved ones awaiting a rating)."""
    ctx = await _ctx(session, slug, principal)
    rows, _ = await reports.list_reports(session, ctx=ctx, state=state, before=decode_time_cursor(cursor), limit=limit)
    return Page(items=rows, next_cursor=next_time_cursor(rows, limit))


@app_router.get("/reports/{event_id}", operation_id="get_my_report")
async def get_my_report(slug: Slug, event_id: uuid.UUID, session: DbSession, principal: ReportsRead) -> ReportDetail:
    """A report with its timeline and the photos a reporter may see (their own, the handler's evidence)."""
    return await reports.report_detail(session, ctx=await _ctx(session, slug, principal), event_id=event_id)


@app_router.post("/reports/{event_id}/photos", status_code=201, operation_id="upload_report_photo")
async def upload_report_photo(
    slug: Slug,
    event_id: uuid.UUID,
    session: DbSession,
    principal: ReportsAttach,
    file: Annotated[UploadFile, files.PHOTO],
) -> ReportPhoto:
    """One photo (at most 9 per person and report); EXIF, GPS and other metadata are removed before it is
    stored."""
    ctx = await _ctx(session, slug, principal)
    return await reports.add_photo(
        session, ctx=ctx, event_id=event_id, filename=file.filename or "photo", data=await files.read_upload(file)
    )


@app_router.get(
    "/reports/{event_id}/photos/{attachment_id}",
    operation_id="get_report_photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_report_photo(
    slug: Slug, event_id: uuid.UUID, attachment_id: uuid.UUID, session: DbSession, principal: ReportsRead
) -> Response:
    ctx = await _ctx(session, slug, principal)
    content_type, data = await reports.read_photo(session, ctx=ctx, event_id=event_id, attachment_id=attachment_id)
    return Response(data, media_type=content_type, headers=files.IMAGE_HEADERS)


@app_router.post("/reports/{event_id}/rating", status_code=201, operation_id="rate_report")
async def rate_report(
    slug: Slug, event_id: uuid.UUID, body: RatingIn, session: DbSession, principal: ReportsRate
) -> ReportDetail:
    """Rate 1-5 once the report is resolved (which confirms it) or closed; a low score with `reopen`
    reopens it within the reopen window."""
    return await reports.rate_report(
        session,
        ctx=await _ctx(session, slug, principal),
        event_id=event_id,
        score=body.score,
        comment=body.comment,
        reopen=body.reopen,
    )


@app_router.post("/reports/{event_id}/cancel", operation_id="cancel_report")
async def cancel_report(
    slug: Slug, event_id: uuid.UUID, body: ReportCancel, session: DbSession, principal: ReportsTransition
) -> ReportDetail:
    return await reports.cancel_report(
        session, ctx=await _ctx(session, slug, principal), event_id=event_id, note=body.note
    )


# Notices -------------------------------------------------------------------------------------------


@app_router.get("/notices", operation_id="list_app_notices")
async def list_app_notices(
    slug: Slug,
    session: DbSession,
    principal: NoticesRead,
    service: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["com_announcements"])] = None,
) -> Page[NoticeSummary]:
    """Published notices for the caller's places (their targets hold them), pinned first, then newest."""
    ctx = await _ctx(session, slug, principal)
    return Page(items=await notices.visible_notices(session, ctx=ctx, service=service))


@app_router.get("/notices/{notice_id}", operation_id="get_app_notice")
async def get_app_notice(slug: Slug, notice_id: Id, session: DbSession, principal: NoticesRead) -> NoticeView:
    """A notice with its body as sanitized HTML (mark it read with `POST .../read`)."""
    return await notices.read_notice(session, ctx=await _ctx(session, slug, principal), notice_id=notice_id)


@app_router.post("/notices/{notice_id}/read", operation_id="mark_notice_read")
async def mark_notice_read(slug: Slug, notice_id: Id, session: DbSession, principal: NoticesRead) -> NoticeReceipt:
    """The read receipt (the first reading's time stays)."""
    return await notices.mark_read(session, ctx=await _ctx(session, slug, principal), notice_id=notice_id)


@app_router.get(
    "/notices/{notice_id}/images/{image_id}",
    operation_id="get_notice_image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_notice_image(slug: Slug, notice_id: Id, image_id: uuid.UUID, session: DbSession) -> Response:
    """An image of a published notice (public: the rendered body's <img> tags carry no credentials)."""
    row = await notices.public_image(session, slug=slug, notice_id=notice_id, image_id=image_id)
    return Response(
        await files.content(row),
        media_type=row.content_type,
        headers={"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"},
    )


@router.get("/notices", operation_id="list_notices")
async def list_notices(
    session: DbSession,
    principal: NoticesRead,
    node_id: Id | None = None,
    status: Literal["draft", "published", "withdrawn"] | None = None,
    service: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[NoticeOut]:
    """Notices targeting nodes in the caller's scope, newest first, with their read counts."""
    rows, counts = await notices.list_notices(
        session, node_id=node_id, status=status, service=service, before_id=decode_int_cursor(cursor), limit=limit
    )
    items = [await notices.notice_out(session, n, read_count=counts.get(n.id, 0)) for n in rows]
    return Page(items=items, next_cursor=next_cursor(rows, limit))


@router.post("/notices", status_code=201, operation_id="create_notice")
async def create_notice(body: NoticeCreate, session: DbSession, principal: NoticesCreate) -> NoticeOut:
    """A draft notice; publish it to show it."""
    notice = await notices.create_notice(
        session,
        actor=principal,
        node_id=body.node_id,
        service=body.service,
        title=body.title,
        body=body.body,
        pinned=body.pinned,
        publish_from=body.publish_from,
        publish_until=body.publish_until,
    )
    return await notices.notice_out(session, notice, read_count=0)


@router.get("/notices/{notice_id}", operation_id="get_notice")
async def get_notice(notice_id: Id, session: DbSession, principal: NoticesRead) -> NoticeOut:
    notice = await notices.get_notice(session, actor=principal, notice_id=notice_id, permission=notices.NOTICES_READ)
    return await notices.notice_out(session, notice)


@router.patch("/notices/{notice_id}", operation_id="update_notice")
async def update_notice(notice_id: Id, body: NoticeUpdate, session: DbSession, principal: NoticesUpdate) -> NoticeOut:
    notice = await notices.update_notice(
        session, actor=principal, notice_id=notice_id, changes=body.model_dump(exclude_unset=True)
    )
    return await notices.notice_out(session, notice)


@router.post("/notices/{notice_id}/publish", operation_id="publish_notice")
async def publish_notice(notice_id: Id, session: DbSession, principal: NoticesPublish) -> NoticeOut:
    notice = await notices.set_status(session, actor=principal, notice_id=notice_id, status="published")
    return await notices.notice_out(session, notice)


@router.post("/notices/{notice_id}/withdraw", operation_id="withdraw_notice")
async def withdraw_notice(notice_id: Id, session: DbSession, principal: NoticesPublish) -> NoticeOut:
    notice = await notices.set_status(session, actor=principal, notice_id=notice_id, status="withdrawn")
    return await notices.notice_out(session, notice)


@router.post("/notices/{notice_id}/images", status_code=201, operation_id="upload_notice_image")
async def upload_notice_image(
    notice_id: Id, session: DbSession, principal: NoticesUpdate, file: Annotated[UploadFile, files.PHOTO]
) -> NoticeImage:
    """An image for the body: put its `markdown` (`![](image:<id>)`) where it should appear."""
    notice, row = await notices.add_image(
        session,
        actor=principal,
        notice_id=notice_id,
        filename=file.filename or "image",
        data=await files.read_upload(file),
    )
    return notices.image_out(await notices.slug_of(session, notice.node_path), row)


# The web app manifest ------------------------------------------------------------------------------


@manifest_router.get(
    "/manifest.webmanifest",
    operation_id="get_app_manifest",
    responses={200: {"content": {"application/manifest+json": {}}}},
)
async def get_app_manifest(slug: Slug, session: DbSession) -> Response:
    """The tenant's web app manifest: its app name, colour and icon, starting at /app/{slug}/."""
    manifest = await manifest_for(session, slug)
    return Response(manifest.model_dump_json(), media_type="application/manifest+json")


async def manifest_for(session: AsyncSession, slug: str) -> AppManifest:
    app = await tenant_app(session, slug=slug)
    branding = app.branding
    icons = [ManifestIcon(src=f"/app/{app.slug}/icon.svg", sizes="any", type="image/svg+xml")]
    if branding.logo_url:
        icons.insert(0, ManifestIcon(src=branding.logo_url, sizes="512x512", type="image/png"))
    return AppManifest(
        name=branding.app_name,
        short_name=branding.app_name[:12],
        start_url=f"/app/{app.slug}/",
        scope=f"/app/{app.slug}/",
        background_color="#ffffff",
        theme_color=branding.primary_color,
        icons=icons,
    )


@manifest_router.get(
    "/icon.svg",
    operation_id="get_app_icon",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def get_app_icon(slug: Slug, session: DbSession) -> Response:
    """A plain icon in the tenant's colour with the first character of its app name (tenants without a logo)."""
    app = await tenant_app(session, slug=slug)
    letter = escape(app.branding.app_name[:1] or "邻")
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">'
        f'<rect width="512" height="512" rx="96" fill="{escape(app.branding.primary_color)}"/>'
        '<text x="256" y="330" font-size="260" text-anchor="middle" fill="#ffffff" '
        f'font-family="sans-serif">{letter}</text></svg>'
    )
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "public, max-age=3600"})
