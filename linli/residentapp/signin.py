"""Signing in to a tenant's app by phone and one-time code, and asking to join when the registry does not
know the phone. Never commits.

A phone the registry knows in the tenant signs in as that resident: the account (created on first
sign-in, like the demo resident's) holds a `resident` grant at each estate where the phone's household
lives and sees that household (matched by phone, as everywhere). An unknown phone gets a join token and
may ask to join; staff approve (the person and household are registered, the grant made) or reject."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, after_commit, assert_writable, path_within
from linli.platform.db import apply_scopes
from linli.platform.errors import Conflict, Forbidden, NotFound, Unauthenticated
from linli.platform.hierarchy.models import Location, Node
from linli.platform.hierarchy.service import NodeService
from linli.platform.masking import mask_name, mask_phone, sees_full
from linli.platform.security import decode_purpose_token, issue_purpose_token
from linli.platform.sms import SmsDeliveryError, sms_gateway
from linli.residentapp.models import JoinRequest
from linli.residentapp.repository import AppRepository
from linli.residentapp.schemas import (
    CodeSentOut,
    CodeSignInOut,
    JoinRequestMine,
    JoinRequestOut,
    PlaceBuilding,
    PlaceEstate,
    PlaceUnit,
)
from linli.residents import service as registry
from linli.services.service import TenantApp, tenant_app
from linli.tenants import grants, phone_codes
from linli.tenants import service as identity
from linli.tenants.models import User
from linli.tenants.schemas import TokenOut

log = logging.getLogger(__name__)
JOIN_TTL = timedelta(minutes=30)
JOIN_DECIDE = Permission("join_requests", "decide")
JOIN_READ = Permission("join_requests", "read")


async def _writable_app(session: AsyncSession, slug: str) -> TenantApp:
    app = await tenant_app(session, slug=slug)
    await apply_scopes(session, [app.node_path])  # a public request: from here on it reads in the tenant only
    await assert_writable(session, app.node_path)
    return app


async def request_code(session: AsyncSession, *, slug: str, phone: str, address: str) -> CodeSentOut:
    app = await _writable_app(session, slug)
    await phone_codes.send_code(session, tenant_id=app.id, app_name=app.branding.app_name, phone=phone, address=address)
    return CodeSentOut(
        phone=mask_phone(phone) or "",
        expires_in=int(phone_codes.CODE_TTL.total_seconds()),
        resend_after=int(phone_codes.RESEND_AFTER.total_seconds()),
    )


def _tokens(issued: identity.IssuedTokens) -> TokenOut:
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in, refresh_token=issued.refresh_token)


def _inside(app: TenantApp, path: str) -> bool:
    return path_within(path, app.node_path)


async def _link_from_registry(session: AsyncSession, app: TenantApp, phone: str, user: User | None) -> User | None:
    """The account of a phone the tenant's registry knows (made if need be), with a resident grant at each
    estate where the phone's household lives; None for a phone the registry does not know here."""
    people = await registry.people_of_phone(session, phone=phone)
    if not people:
        return None
    first = people[0]
    user = user or await identity.ensure_user(
        session, phone=phone, display_name=first.person.name, home_node_path=first.household.node_path
    )
    estates = sorted({r.household.node_id for r in people})
    for estate_id in estates:
        estate = await NodeService(session).get_visible(estate_id)
        await grants.grant_role(session, actor=None, user=user, role="resident", node=estate)
    await audit.record(
        session,
        actor=None,
        actor_label="sign-in by code",
        action="resident.link_account",
        object_type="user",
        object_id=user.id,
        node_path=first.household.node_path,
        after={"phone": phone, "estate_ids": estates},
    )
    return user


async def verify_code(session: AsyncSession, *, slug: str, phone: str, code: str) -> CodeSignInOut:
    app = await _writable_app(session, slug)
    await phone_codes.check_code(session, tenant_id=app.id, phone=phone, code=code)
    user = await identity.user_by_phone(session, phone=phone)
    if user is not None and not user.is_active:
        raise Unauthenticated("account is disabled", code="account_disabled")
    held = await identity.principal_for(session, user) if user is not None else None
    if held is not None and any(g.role != "resident" for g in held.grants):
        # A code by SMS is no second factor: accounts that may do more than a resident use their password.
        raise Forbidden("this account signs in with its password", code="password_required")
    if held is None or not any(_inside(app, g.node_path) for g in held.grants):
        user = await _link_from_registry(session, app, phone, user)
    if user is not None:
        linked = await identity.principal_for(session, user)
        if any(_inside(app, g.node_path) for g in linked.grants):
            return CodeSignInOut(status="signed_in", tokens=_tokens(await identity.sign_in(session, user=user)))
    latest = await AppRepository(session).latest_join_request(tenant_id=app.id, phone=phone)
    return CodeSignInOut(
        status="join_required",
        join_token=issue_purpose_token("join", phone, {"tid": app.id}, JOIN_TTL),
        join_token_expires_in=int(JOIN_TTL.total_seconds()),
        join_request=await _mine(session, latest) if latest is not None else None,
    )


def _join_phone(app: TenantApp, token: str) -> str:
    claims = decode_purpose_token(token, "join")
    if claims is None or claims.get("tid") != app.id:
        raise Unauthenticated(
            "the join token is invalid or expired; sign in with a code again", code="invalid_join_token"
        )
    return str(claims["sub"])


async def _mine(session: AsyncSession, request: JoinRequest) -> JoinRequestMine:
    estate = await NodeService(session).get_visible(request.node_id)
    return JoinRequestMine(
        id=request.id,
        status=request.status,
        estate_id=request.node_id,
        estate_name=estate.name,
        location_id=request.location_id,
        room=request.room,
        name=request.name,
        reason=request.reason,
        created_at=request.created_at,
        decided_at=request.decided_at,
    )


def _places(estates: list[Node], locations: list[Location]) -> list[PlaceEstate]:
    units: dict[int, list[PlaceUnit]] = {}
    for loc in locations:
        if loc.kind == "unit" and loc.parent_id is not None:
            units.setdefault(loc.parent_id, []).append(PlaceUnit(id=loc.id, name=loc.name))
    buildings: dict[int, list[PlaceBuilding]] = {}
    for loc in locations:
        if loc.kind == "building":
            buildings.setdefault(loc.node_id, []).append(
                PlaceBuilding(id=loc.id, name=loc.name, units=units.get(loc.id, []))
            )
    return [PlaceEstate(id=e.id, name=e.name, buildings=buildings.get(e.id, [])) for e in estates]


async def join_places(session: AsyncSession, *, slug: str, join_token: str) -> list[PlaceEstate]:
    """The tenant's estates with their buildings and units, to say where one lives."""
    app = await _writable_app(session, slug)
    _join_phone(app, join_token)
    nodes = NodeService(session)
    estates = [
        n
        for n in await nodes.list(q=None, level="estate", parent_id=None, after_id=None, limit=5_000)
        if _inside(app, n.node_path)
    ]
    return _places(estates, list(await nodes.locations_under(app.node_path)))


async def request_to_join(
    session: AsyncSession,
    *,
    slug: str,
    join_token: str,
    name: str,
    estate_id: int,
    location_id: int | None,
    room: str | None,
) -> JoinRequestMine:
    app = await _writable_app(session, slug)
    phone = _join_phone(app, join_token)
    estate = await NodeService(session).get_visible(estate_id)
    if estate.level != "estate" or not _inside(app, estate.node_path):
        raise NotFound("estate")
    if location_id is not None:
        location = await NodeService(session).location(location_id)
        if location is None or location.node_id != estate.id:
            raise NotFound("location")
    repo = AppRepository(session)
    latest = await repo.latest_join_request(tenant_id=app.id, phone=phone)
    if latest is not None and latest.status == "pending":
        raise Conflict("a request to join is already waiting for staff", code="join_request_pending")
    request = JoinRequest(
        tenant_id=app.id,
        node_id=estate.id,
        node_path=estate.node_path,
        location_id=location_id,
        phone=phone,
        name=name.strip(),
        room=room,
        status="pending",
    )
    repo.add(request)
    await session.flush()
    await session.refresh(request)
    await audit.record(
        session,
        actor=None,
        actor_label=f"phone {mask_phone(phone)}",
        action="join_request.create",
        object_type="join_request",
        object_id=request.id,
        node_path=request.node_path,
        after=_snapshot(request),
    )
    return await _mine(session, request)


def _snapshot(request: JoinRequest) -> dict[str, Any]:
    return {
        "status": request.status,
        "phone": request.phone,  # masked by the audit log
        "name": mask_name(request.name),
        "estate_id": request.node_id,
        "location_id": request.location_id,
        "room": request.room,
        "household_id": request.household_id,
        "person_id": request.person_id,
        "reason": request.reason,
    }


# Staff ---------------------------------------------------------------------------------------------


def join_request_out(actor: Principal, request: JoinRequest) -> JoinRequestOut:
    full = sees_full(g.role for g in actor.grants_covering(request.node_path))
    return JoinRequestOut(
        id=request.id,
        tenant_id=request.tenant_id,
        estate_id=request.node_id,
        node_path=request.node_path,
        location_id=request.location_id,
        room=request.room,
        name=request.name if full else mask_name(request.name),
        phone=request.phone if full else mask_phone(request.phone) or "",
        status=request.status,
        reason=request.reason,
        household_id=request.household_id,
        person_id=request.person_id,
        created_at=request.created_at,
        decided_at=request.decided_at,
        masked=not full,
    )


async def list_join_requests(
    session: AsyncSession, *, node_id: int | None, status: str | None, after_id: int | None, limit: int
) -> list[JoinRequest]:
    within = await NodeService(session).path_filter(node_id)
    return list(
        await AppRepository(session).join_requests(within_path=within, status=status, after_id=after_id, limit=limit)
    )


async def get_join_request(session: AsyncSession, *, actor: Principal, request_id: int) -> JoinRequest:
    return await access_object(
        session, actor, await AppRepository(session).join_request(request_id), permission=JOIN_READ, what="join request"
    )


async def _pending(session: AsyncSession, actor: Principal, request_id: int) -> JoinRequest:
    request = await access_object(
        session,
        actor,
        await AppRepository(session).join_request(request_id, for_update=True),
        permission=JOIN_DECIDE,
        what="join request",
    )
    if request.status != "pending":
        raise Conflict(f"the request was already {request.status}", code="join_request_decided")
    return request


def _tell_applicant(session: AsyncSession, phone: str, text: str) -> None:
    """An SMS once the decision is committed; the applicant has no inbox yet. Best effort: logged."""

    async def _send() -> None:
        try:
            await sms_gateway().send(phone=phone, text=text)
        except SmsDeliveryError:
            log.warning("could not tell %s about their request to join", mask_phone(phone), exc_info=True)

    after_commit(session, _send)


async def approve_join_request(
    session: AsyncSession, *, actor: Principal, request_id: int, household_id: int | None
) -> JoinRequest:
    """Register the applicant in a household of the estate (an existing one, or a new one at the place
    they named), make or find their account and grant it `resident` at the estate."""
    request = await _pending(session, actor, request_id)
    before = _snapshot(request)
    if household_id is not None:
        household = await registry.get_household(session, actor=actor, household_id=household_id)
        if household.node_id != request.node_id:
            raise Conflict("the household lives in another estate", code="household_not_in_estate")
    else:
        location = await NodeService(session).location(request.location_id) if request.location_id else None
        household = await registry.create_household(
            session,
            actor=actor,
            node_id=request.node_id,
            location_id=location.id if location is not None and location.kind == "unit" else None,
            room=request.room,
        )
    person = await registry.create_person(
        session, actor=actor, household_id=household.id, name=request.name, phone=request.phone
    )
    user = await identity.user_by_phone(session, phone=request.phone) or await identity.ensure_user(
        session, phone=request.phone, display_name=request.name, home_node_path=request.node_path
    )
    estate = await NodeService(session).get_visible(request.node_id)
    await grants.grant_role(session, actor=None, user=user, role="resident", node=estate)
    request.status = "approved"
    request.household_id, request.person_id, request.user_id = household.id, person.person.id, user.id
    request.decided_by, request.decided_at = actor.id, identity.now()
    await audit.record(
        session,
        actor=actor,
        action="join_request.approve",
        object_type="join_request",
        object_id=request.id,
        node_path=request.node_path,
        before=before,
        after=_snapshot(request),
    )
    _tell_applicant(
        session,
        request.phone,
        f"【{estate.name}】您的入住申请已通过，请用手机号登录。"
        "Your request to join was approved: sign in with your phone.",
    )
    return request


async def reject_join_request(session: AsyncSession, *, actor: Principal, request_id: int, reason: str) -> JoinRequest:
    request = await _pending(session, actor, request_id)
    before = _snapshot(request)
    request.status, request.reason = "rejected", reason
    request.decided_by, request.decided_at = actor.id, identity.now()
    await audit.record(
        session,
        actor=actor,
        action="join_request.reject",
        object_type="join_request",
        object_id=request.id,
        node_path=request.node_path,
        before=before,
        after=_snapshot(request),
    )
    _tell_applicant(
        session, request.phone, f"您的入住申请未通过：{reason}。Your request to join was declined: {reason}"
    )
    return request
