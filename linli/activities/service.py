"""Activities: staff publish them; residents under the audience node sign up (a place while there is one,
else the waitlist in arrival order) and cancel (the first in the waitlist takes the freed place); staff
check residents in by scanning their code, which records volunteer hours and tells `CHECKED_IN_HANDLERS`
(points). Sign-ups and cancellations serialize on the activity's row lock. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from linli.activities.models import Activity, Signup
from linli.activities.repository import ActivityRepository
from linli.activities.schemas import ActivityIn, ActivityOut, AppActivity
from linli.events.notifications import notify_in_app
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, path_within, tenant_chain
from linli.platform.db import within_scopes
from linli.platform.errors import Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.qr import qr_svg
from linli.platform.security import decode_purpose_token, issue_purpose_token
from linli.residentapp.context import AppContext, staff_place
from linli.tenants.service import now

READ = Permission("activities", "read")
CREATE = Permission("activities", "create")
UPDATE = Permission("activities", "update")
CHECKIN = Permission("activities", "checkin")
CHECKIN_PURPOSE = "activity_checkin"
CHECKIN_CODE_TTL = timedelta(hours=12)


class CheckedInHandler(Protocol):
    def __call__(
        self,
        session: AsyncSession,
        *,
        actor: Principal | None,
        tenant: tuple[int, str],
        user_id: uuid.UUID,
        resident_path: str,
        activity_id: int,
        hours: Decimal,
    ) -> Awaitable[None]: ...


# Called in the check-in's transaction (wiring: the points ledger's earning rules).
CHECKED_IN_HANDLERS: list[CheckedInHandler] = []


def _snapshot(activity: Activity) -> dict[str, Any]:
    return {
        "title": activity.title,
        "status": activity.status,
        "capacity": activity.capacity,
        "taken": activity.taken,
        "starts_at": activity.starts_at.isoformat(),
    }


def _notify(session: AsyncSession, signup: Signup, activity: Activity, kind: str, title: str) -> None:
    notify_in_app(
        session,
        node_path=signup.node_path,
        recipient_id=signup.user_id,
        kind=f"activity.{kind}",
        title=title,
        body=f"{activity.title} · {activity.place} · {activity.starts_at.isoformat()}",
        payload={"activity_id": activity.id, "service": activity.service_code, "status": signup.status},
    )


async def create_activity(session: AsyncSession, *, actor: Principal | None, data: ActivityIn) -> Activity:
    node, tenant = await staff_place(
        session, actor=actor, node_id=data.node_id, permission=CREATE, service=data.service, kind="signup"
    )
    if not data.signup_deadline <= data.starts_at < data.ends_at:
        raise Conflict("the sign-up deadline, start and end must come in that order", code="invalid_times")
    at = now()
    activity = Activity(
        tenant_id=tenant.id,
        node_id=node.id,
        node_path=node.node_path,
        service_code=data.service,
        title=data.title,
        body=data.body,
        place=data.place,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        signup_deadline=data.signup_deadline,
        capacity=data.capacity,
        taken=0,
        queue_seq=0,
        volunteer_hours=data.volunteer_hours,
        status="open",
        created_by=actor.id if actor is not None else None,
        created_at=at,
        updated_at=at,
    )
    ActivityRepository(session).add(activity)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="activity.create",
        object_type="activity",
        object_id=activity.id,
        node_path=activity.node_path,
        after=_snapshot(activity),
    )
    return activity


async def list_activities(
    session: AsyncSession,
    *,
    service: str | None,
    before_id: int | None,
    limit: int,
    node_id: int | None = None,
    status: str | None = None,
) -> Sequence[Activity]:
    """Activities under the caller's scope (and under `node_id`), newest first."""
    return await ActivityRepository(session).activities(
        service=service,
        node_path=await NodeService(session).path_filter(node_id),
        status=status,
        before_id=before_id,
        limit=limit,
    )


async def get_activity(
    session: AsyncSession, *, actor: Principal, activity_id: int, permission: Permission = READ, lock: bool = False
) -> Activity:
    row = await ActivityRepository(session).activity(activity_id, for_update=lock)
    return await access_object(session, actor, row, permission=permission, what="activity")


async def participants(session: AsyncSession, *, actor: Principal, activity_id: int) -> Sequence[Signup]:
    """Everyone who signed up: confirmed first, then the waitlist in its order, then cancellations."""
    await get_activity(session, actor=actor, activity_id=activity_id)
    rows = await ActivityRepository(session).signups(activity_id)
    order = {"confirmed": 0, "waitlisted": 1, "cancelled": 2}
    return sorted(rows, key=lambda s: (order[s.status], s.position))


async def cancel_activity(session: AsyncSession, *, actor: Principal, activity_id: int) -> Activity:
    """Called off: everyone signed up or waiting is told."""
    activity = await get_activity(session, actor=actor, activity_id=activity_id, permission=UPDATE, lock=True)
    if activity.status == "cancelled":
        return activity
    before = _snapshot(activity)
    activity.status, activity.updated_at = "cancelled", now()
    for signup in await ActivityRepository(session).signups(activity.id, statuses=["confirmed", "waitlisted"]):
        _notify(session, signup, activity, "cancelled", "活动已取消 Activity cancelled")
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="activity.cancel",
        object_type="activity",
        object_id=activity.id,
        node_path=activity.node_path,
        before=before,
        after=_snapshot(activity),
    )
    return activity


# The resident's side -----------------------------------------------------------------------------------


async def _app_out(session: AsyncSession, activities: Sequence[Activity], user_id: uuid.UUID) -> list[AppActivity]:
    repo = ActivityRepository(session)
    mine = await repo.mine(user_id, [a.id for a in activities])
    out = []
    for activity in activities:
        signup = mine.get(activity.id)
        rank = await repo.waitlist_rank(signup) if signup is not None and signup.status == "waitlisted" else None
        out.append(
            AppActivity(
                **ActivityOut.model_validate(activity).model_dump(),
                my_status=signup.status if signup else None,
                my_position=rank,
            )
        )
    return out


async def app_activities(session: AsyncSession, *, ctx: AppContext, service: str, limit: int) -> list[AppActivity]:
    """The open activities of a switched-on service the caller may join, soonest first, with their place."""
    ctx.app.service(service, kind="signup")
    async with within_scopes(session, [ctx.app.node_path]):
        rows = await ActivityRepository(session).open_above(
            tenant_id=ctx.app.id, service=service, path=ctx.viewer_path, after=now(), limit=limit
        )
        return await _app_out(session, rows, ctx.actor.id)


async def _locked_for_resident(session: AsyncSession, ctx: AppContext, activity_id: int) -> tuple[Activity, str]:
    """The activity under its row lock, for a resident of its audience in a switched-on service."""
    path = ctx.resident_path()
    activity = await ActivityRepository(session).activity(activity_id, for_update=True)
    if activity is None or activity.tenant_id != ctx.app.id or not path_within(path, activity.node_path):
        raise NotFound("activity")
    ctx.app.service(activity.service_code, kind="signup")
    return activity, path


async def sign_up(session: AsyncSession, *, ctx: AppContext, activity_id: int) -> AppActivity:
    """A place while one is free, else the end of the waitlist (409 `already_signed_up`, `signup_closed`)."""
    repo = ActivityRepository(session)
    async with within_scopes(session, [ctx.app.node_path]):
        activity, path = await _locked_for_resident(session, ctx, activity_id)
        if activity.status != "open" or now() >= activity.signup_deadline:
            raise Conflict("sign-up for this activity is closed", code="signup_closed")
        signup = await repo.signup_of(activity.id, ctx.actor.id)
        if signup is not None and signup.status != "cancelled":
            raise Conflict("you have already signed up", code="already_signed_up")
        activity.queue_seq += 1
        status = "confirmed" if activity.taken < activity.capacity else "waitlisted"
        activity.taken += status == "confirmed"
        if signup is None:
            signup = Signup(activity_id=activity.id, node_path=path, user_id=ctx.actor.id)
            repo.add(signup)
        signup.status, signup.position, signup.updated_at = status, activity.queue_seq, now()
        await session.flush()
        await audit.record(
            session,
            actor=ctx.actor,
            action="activity.signup",
            object_type="activity_signup",
            object_id=signup.id,
            node_path=signup.node_path,
            after={"activity_id": activity.id, "status": status, "position": signup.position},
        )
        return (await _app_out(session, [activity], ctx.actor.id))[0]


async def cancel_signup(session: AsyncSession, *, ctx: AppContext, activity_id: int) -> AppActivity:
    """Give the place (or the place in the queue) up; a freed place goes to the first in the waitlist."""
    repo = ActivityRepository(session)
    async with within_scopes(session, [ctx.app.node_path]):
        activity, _ = await _locked_for_resident(session, ctx, activity_id)
        signup = await repo.signup_of(activity.id, ctx.actor.id)
        if signup is None or signup.status == "cancelled":
            raise NotFound("sign-up")
        if signup.checked_in_at is not None:
            raise Conflict("you have already checked in", code="already_checked_in")
        freed = signup.status == "confirmed"
        signup.status, signup.updated_at = "cancelled", now()
        if freed:
            activity.taken -= 1
            await _promote(session, activity, actor=ctx.actor)
        await session.flush()
        await audit.record(
            session,
            actor=ctx.actor,
            action="activity.signup_cancel",
            object_type="activity_signup",
            object_id=signup.id,
            node_path=signup.node_path,
            after={"activity_id": activity.id, "status": "cancelled"},
        )
        return (await _app_out(session, [activity], ctx.actor.id))[0]


async def _promote(session: AsyncSession, activity: Activity, *, actor: Principal) -> None:
    """The first in the waitlist takes the freed place (under the activity's lock) and is told."""
    if activity.status != "open" or activity.taken >= activity.capacity:
        return
    first = await ActivityRepository(session).first_waitlisted(activity.id)
    if first is None:
        return
    first.status, first.updated_at = "confirmed", now()
    activity.taken += 1
    _notify(session, first, activity, "promoted", "候补成功，已为您保留名额 You have a place")
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="activity.signup_promote",
        object_type="activity_signup",
        object_id=first.id,
        node_path=first.node_path,
        after={"activity_id": activity.id, "status": "confirmed", "position": first.position},
    )


async def checkin_code(session: AsyncSession, *, ctx: AppContext, activity_id: int) -> str:
    """What the resident shows at the venue: a signed token naming their confirmed sign-up."""
    async with within_scopes(session, [ctx.app.node_path]):
        signup = await ActivityRepository(session).signup_of(activity_id, ctx.actor.id)
    if signup is None or signup.status != "confirmed":
        raise NotFound("sign-up")
    return issue_purpose_token(CHECKIN_PURPOSE, str(signup.id), {"act": activity_id}, CHECKIN_CODE_TTL)


async def checkin_qr(session: AsyncSession, *, ctx: AppContext, activity_id: int) -> str:
    """The check-in code as an SVG QR code, for the resident's phone to show at the venue."""
    return qr_svg(await checkin_code(session, ctx=ctx, activity_id=activity_id))


async def check_in(session: AsyncSession, *, actor: Principal, activity_id: int, code: str) -> Signup:
    """Staff scan the resident's code: the hours are recorded and the points handlers told (once)."""
    activity = await get_activity(session, actor=actor, activity_id=activity_id, permission=CHECKIN)
    claims = decode_purpose_token(code, CHECKIN_PURPOSE)
    if claims is None or claims.get("act") != activity_id:
        raise Conflict("this code is not valid for this activity", code="invalid_checkin_code")
    signup = await ActivityRepository(session).signup(int(claims["sub"]), for_update=True)
    if signup is None or signup.activity_id != activity.id or signup.status != "confirmed":
        raise Conflict("this resident holds no place at this activity", code="not_a_participant")
    if signup.checked_in_at is not None:
        return signup
    signup.checked_in_at, signup.hours, signup.updated_at = now(), activity.volunteer_hours, now()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="activity.checkin",
        object_type="activity_signup",
        object_id=signup.id,
        node_path=signup.node_path,
        after={"activity_id": activity.id, "hours": str(signup.hours)},
    )
    tenant_path = (await tenant_chain(session, activity.node_path))[-1].node_path
    for handler in CHECKED_IN_HANDLERS:
        await handler(
            session,
            actor=actor,
            tenant=(activity.tenant_id, tenant_path),
            user_id=signup.user_id,
            resident_path=signup.node_path,
            activity_id=activity.id,
            hours=activity.volunteer_hours,
        )
    return signup


async def remind(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Tell the confirmed participants of activities starting within a day; once per activity."""
    at = at or now()
    repo = ActivityRepository(session)
    activities = await repo.starting_between(at, at + timedelta(days=1))
    for activity in activities:
        for signup in await repo.signups(activity.id, statuses=["confirmed"]):
            _notify(session, signup, activity, "reminder", "活动明天开始 Your activity is tomorrow")
        activity.reminded_at = at
    await session.flush()
    return len(activities)
