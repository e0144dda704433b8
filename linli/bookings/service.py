"""Bookings: staff open resources with opening hours and a slot length; residents under a resource's node
book its slots (limits per week, a cancellation window). No two live bookings of a resource overlap: the
database's exclusion constraint decides between concurrent requests. Closing a resource cancels its
coming bookings and tells each resident. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.bookings.models import Booking, Resource
from linli.bookings.repository import BookingRepository
from linli.bookings.schemas import ResourceIn, Slot
from linli.events.notifications import notify_in_app
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, path_within
from linli.platform.db import within_scopes
from linli.platform.errors import Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.settings import get_settings
from linli.residentapp.context import AppContext, staff_place
from linli.tenants.service import now

READ = Permission("bookings", "read")
MANAGE = Permission("bookings", "manage")
EXCLUSION_VIOLATION = "23P01"


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().time_zone)


def _snapshot(row: Resource | Booking) -> dict[str, Any]:
    if isinstance(row, Resource):
        return {"name": row.name, "status": row.status, "slot_minutes": row.slot_minutes}
    return {"resource_id": row.resource_id, "starts_at": row.starts_at.isoformat(), "status": row.status}


def _notify(session: AsyncSession, booking: Booking, resource: Resource, kind: str, title: str) -> None:
    local = booking.starts_at.astimezone(_zone())
    notify_in_app(
        session,
        node_path=booking.node_path,
        recipient_id=booking.user_id,
        kind=f"booking.{kind}",
        title=title,
        body=f"{resource.name} · {local:%Y-%m-%d %H:%M}",
        payload={"booking_id": booking.id, "resource_id": resource.id, "service": resource.service_code},
    )


async def create_resource(session: AsyncSession, *, actor: Principal | None, data: ResourceIn) -> Resource:
    node, tenant = await staff_place(
        session, actor=actor, node_id=data.node_id, permission=MANAGE, service=data.service, kind="booking"
    )
    if data.closes <= data.opens:
        raise Conflict("a resource closes after it opens", code="invalid_hours")
    resource = Resource(
        tenant_id=tenant.id,
        node_id=node.id,
        node_path=node.node_path,
        service_code=data.service,
        name=data.name,
        kind=data.kind,
        opens=data.opens,
        closes=data.closes,
        slot_minutes=data.slot_minutes,
        weekly_limit=data.weekly_limit,
        cancel_before_minutes=data.cancel_before_minutes,
        status="open",
    )
    BookingRepository(session).add(resource)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="resource.create",
        object_type="resource",
        object_id=resource.id,
        node_path=resource.node_path,
        after=_snapshot(resource),
    )
    return resource


async def list_resources(
    session: AsyncSession, *, service: str | None, before_id: int | None, limit: int, node_id: int | None = None
) -> Sequence[Resource]:
    return await BookingRepository(session).resources(
        service=service, node_path=await NodeService(session).path_filter(node_id), before_id=before_id, limit=limit
    )


async def get_resource(
    session: AsyncSession, *, actor: Principal, resource_id: int, permission: Permission = READ, lock: bool = False
) -> Resource:
    row = await BookingRepository(session).resource(resource_id, for_update=lock)
    return await access_object(session, actor, row, permission=permission, what="resource")


async def calendar(
    session: AsyncSession, *, actor: Principal, resource_id: int, start: datetime | None, end: datetime | None
) -> Sequence[Booking]:
    """The staff calendar: live bookings of the resource in [start, end) (by default the coming week; a
    window longer than 62 days is cut there, an empty one holds nothing)."""
    start = start or now()
    end = min(end or start + timedelta(days=7), start + timedelta(days=62))
    await get_resource(session, actor=actor, resource_id=resource_id)
    if end <= start:
        return []
    return await BookingRepository(session).between(resource_id, start, end)


async def close_resource(session: AsyncSession, *, actor: Principal | None, resource_id: int) -> Resource:
    """Closed for good: its coming bookings are cancelled and each resident is told."""
    repo = BookingRepository(session)
    resource = await access_object(
        session, actor, await repo.resource(resource_id, for_update=True), permission=MANAGE, what="resource"
    )
    if resource.status == "closed":
        return resource
    before = _snapshot(resource)
    at = now()
    resource.status, resource.updated_at = "closed", at
    for booking in await repo.live_from(resource.id, at):
        booking.status, booking.cancel_reason, booking.cancelled_at = "cancelled", "resource_closed", at
        _notify(session, booking, resource, "cancelled", "场地已关闭，预约已取消 Booking cancelled: closed")
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="resource.close",
        object_type="resource",
        object_id=resource.id,
        node_path=resource.node_path,
        before=before,
        after=_snapshot(resource),
    )
    return resource


# The resident's side -----------------------------------------------------------------------------------


async def app_resources(session: AsyncSession, *, ctx: AppContext, service: str) -> Sequence[Resource]:
    ctx.app.service(service, kind="booking")
    async with within_scopes(session, [ctx.app.node_path]):
        return await BookingRepository(session).open_above(tenant_id=ctx.app.id, service=service, path=ctx.viewer_path)


async def _resource_for(session: AsyncSession, ctx: AppContext, resource_id: int) -> Resource:
    """A resource of a switched-on service, for a resident under its node or staff looking at the app
    (read in the tenant's scope)."""
    path = ctx.viewer_path
    resource = await BookingRepository(session).resource(resource_id)
    if (
        resource is None
        or resource.tenant_id != ctx.app.id
        or (path is not None and not path_within(path, resource.node_path))
    ):
        raise NotFound("resource")
    ctx.app.service(resource.service_code, kind="booking")
    return resource


def _day_slots(resource: Resource, day: date) -> list[tuple[datetime, datetime]]:
    zone, step = _zone(), timedelta(minutes=resource.slot_minutes)
    start = datetime.combine(day, resource.opens, tzinfo=zone)
    close = datetime.combine(day, resource.closes, tzinfo=zone)
    slots = []
    while start + step <= close:
        slots.append((start, start + step))
        start += step
    return slots


async def slots(session: AsyncSession, *, ctx: AppContext, resource_id: int, day: date) -> list[Slot]:
    """The resource's slots on a local day; a slot is free when unbooked and still to come."""
    async with within_scopes(session, [ctx.app.node_path]):
        resource = await _resource_for(session, ctx, resource_id)
        day_slots = _day_slots(resource, day)
        if not day_slots:
            return []
        taken = await BookingRepository(session).between(resource.id, day_slots[0][0], day_slots[-1][1])
    at = now()
    return [
        Slot(starts_at=s, ends_at=e, free=s > at and not any(b.starts_at < e and b.ends_at > s for b in taken))
        for s, e in day_slots
    ]


async def book(session: AsyncSession, *, ctx: AppContext, resource_id: int, starts_at: datetime) -> Booking:
    """One slot (409 `slot_taken`, `weekly_limit_reached`, `not_a_slot`, `slot_passed`)."""
    repo = BookingRepository(session)
    async with within_scopes(session, [ctx.app.node_path]):
        path = ctx.resident_path()
        resource = await _resource_for(session, ctx, resource_id)
        if resource.status != "open":
            raise Conflict("this resource is closed", code="resource_closed")
        local = starts_at.astimezone(_zone())
        slot = next((s for s in _day_slots(resource, local.date()) if s[0] == starts_at), None)
        if slot is None:
            raise Conflict("this is not the start of one of the resource's slots", code="not_a_slot")
        if slot[0] <= now():
            raise Conflict("this slot has begun or passed", code="slot_passed")
        if resource.weekly_limit is not None:
            await repo.lock_resident(resource.id, ctx.actor.id)
            monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), tzinfo=_zone())
            week = await repo.between(resource.id, monday, monday + timedelta(days=7), user_id=ctx.actor.id)
            if len(week) >= resource.weekly_limit:
                raise Conflict("you have booked this as often as a week allows", code="weekly_limit_reached")
        booking = Booking(
            resource_id=resource.id,
            node_path=path,
            user_id=ctx.actor.id,
            starts_at=slot[0],
            ends_at=slot[1],
            status="booked",
        )
        try:
            async with session.begin_nested():
                repo.add(booking)
                await session.flush()
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
                raise Conflict("this slot is already booked", code="slot_taken") from exc
            raise
        await audit.record(
            session,
            actor=ctx.actor,
            action="booking.create",
            object_type="booking",
            object_id=booking.id,
            node_path=booking.node_path,
            after=_snapshot(booking),
        )
        return booking


async def my_bookings(
    session: AsyncSession, *, ctx: AppContext, before_id: int | None, limit: int
) -> Sequence[Booking]:
    return await BookingRepository(session).mine(ctx.actor.id, before_id=before_id, limit=limit)


async def cancel_booking(session: AsyncSession, *, ctx: AppContext, booking_id: int) -> Booking:
    """The resident's own booking, up to the resource's cancellation window (409 `too_late_to_cancel`)."""
    repo = BookingRepository(session)
    booking = await repo.booking(booking_id, for_update=True)
    if booking is None or booking.user_id != ctx.actor.id or not ctx.inside(booking.node_path):
        raise NotFound("booking")
    if booking.status != "booked":
        return booking
    async with within_scopes(session, [ctx.app.node_path]):
        resource = await repo.resource(booking.resource_id)
    assert resource is not None
    if now() > booking.starts_at - timedelta(minutes=resource.cancel_before_minutes):
        raise Conflict("it is too late to cancel this booking", code="too_late_to_cancel")
    booking.status, booking.cancel_reason, booking.cancelled_at = "cancelled", "resident", now()
    await session.flush()
    await audit.record(
        session,
        actor=ctx.actor,
        action="booking.cancel",
        object_type="booking",
        object_id=booking.id,
        node_path=booking.node_path,
        after=_snapshot(booking),
    )
    return booking


async def remind(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Tell residents of their bookings starting within a day; once per booking."""
    at = at or now()
    repo = BookingRepository(session)
    due = await repo.starting_between(at, at + timedelta(days=1))
    for booking in due:
        resource = await repo.resource(booking.resource_id)
        assert resource is not None
        _notify(session, booking, resource, "reminder", "预约提醒 Your booking is coming up")
        booking.reminded_at = at
    await session.flush()
    return len(due)
