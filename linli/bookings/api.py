"""Bookings: `/api/v1/app/{slug}/booking/{service}/resources`, `/api/v1/app/{slug}/resources/{id}/...` and
`/api/v1/app/{slug}/bookings` for residents (a switched-on `booking` service), `/api/v1/resources` for staff."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from linli.bookings import service
from linli.bookings.permissions import BookingsCancel, BookingsCreate, BookingsManage, BookingsRead
from linli.bookings.schemas import BookingIn, BookingOut, ResourceIn, ResourceOut, Slot
from linli.platform.access import DbSession
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.residentapp.context import app_context
from linli.services.api import Slug

app_router = APIRouter(prefix="/api/v1/app/{slug}", tags=["bookings"])
router = APIRouter(prefix="/api/v1/resources", tags=["bookings"])
ServiceCode = Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


@app_router.get("/booking/{booking_service}/resources", operation_id="list_app_resources")
async def list_app_resources(
    slug: Slug, booking_service: str, session: DbSession, principal: BookingsRead
) -> Page[ResourceOut]:
    """The open resources of a switched-on booking service the caller may book."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return Page(
        items=[
            ResourceOut.model_validate(r)
            for r in await service.app_resources(session, ctx=ctx, service=booking_service)
        ],
        next_cursor=None,
    )


@app_router.get("/resources/{resource_id}/slots", operation_id="list_resource_slots")
async def list_resource_slots(
    slug: Slug, resource_id: Id, day: date, session: DbSession, principal: BookingsRead
) -> Page[Slot]:
    """The resource's slots on a local day, each free or not."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return Page(items=await service.slots(session, ctx=ctx, resource_id=resource_id, day=day), next_cursor=None)


@app_router.post("/resources/{resource_id}/bookings", status_code=201, operation_id="book_resource")
async def book_resource(
    slug: Slug, resource_id: Id, body: BookingIn, session: DbSession, principal: BookingsCreate
) -> BookingOut:
    """Book one slot: 409 `slot_taken` (never two bookings of a slot), `weekly_limit_reached`."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return BookingOut.model_validate(
        await service.book(session, ctx=ctx, resource_id=resource_id, starts_at=body.starts_at)
    )


@app_router.get("/bookings", operation_id="list_my_bookings")
async def list_my_bookings(
    slug: Slug, session: DbSession, principal: BookingsRead, cursor: Cursor = None, limit: Limit = 50
) -> Page[BookingOut]:
    ctx = await app_context(session, slug=slug, actor=principal)
    rows = await service.my_bookings(session, ctx=ctx, before_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=[BookingOut.model_validate(b) for b in rows], next_cursor=next_cursor(rows, limit))


@app_router.post("/bookings/{booking_id}/cancel", operation_id="cancel_my_booking")
async def cancel_my_booking(slug: Slug, booking_id: Id, session: DbSession, principal: BookingsCancel) -> BookingOut:
    """Up to the resource's cancellation window (409 `too_late_to_cancel`)."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return BookingOut.model_validate(await service.cancel_booking(session, ctx=ctx, booking_id=booking_id))


@router.get("", operation_id="list_resources")
async def list_resources(
    session: DbSession,
    principal: BookingsRead,
    service_code: ServiceCode | None = None,
    node_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ResourceOut]:
    """Newest first; `node_id` keeps the resources under that node."""
    rows = await service.list_resources(
        session, service=service_code, node_id=node_id, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[ResourceOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.post("", status_code=201, operation_id="create_resource")
async def create_resource(body: ResourceIn, session: DbSession, principal: BookingsManage) -> ResourceOut:
    return ResourceOut.model_validate(await service.create_resource(session, actor=principal, data=body))


@router.get("/{resource_id}", operation_id="get_resource")
async def get_resource(resource_id: Id, session: DbSession, principal: BookingsRead) -> ResourceOut:
    return ResourceOut.model_validate(await service.get_resource(session, actor=principal, resource_id=resource_id))


@router.post("/{resource_id}/close", operation_id="close_resource")
async def close_resource(resource_id: Id, session: DbSession, principal: BookingsManage) -> ResourceOut:
    """Close it for good: its coming bookings are cancelled and each resident is told."""
    return ResourceOut.model_validate(await service.close_resource(session, actor=principal, resource_id=resource_id))


@router.get("/{resource_id}/bookings", operation_id="list_resource_bookings")
async def list_resource_bookings(
    resource_id: Id,
    session: DbSession,
    principal: BookingsRead,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
) -> Page[BookingOut]:
    """The staff calendar: live bookings in [start, end) (up to 62 days; by default the coming week)."""
    rows = await service.calendar(session, actor=principal, resource_id=resource_id, start=start, end=end)
    return Page(items=[BookingOut.model_validate(b) for b in rows], next_cursor=None)
