"""The home screen in one answer: the app (branding, sections, services), who the caller is and where
they live, pinned notices, their open reports and form cases, the unread count of their inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import notifications, reading
from linli.events.models import OPEN_STATUSES
from linli.platform.hierarchy.service import NodeService
from linli.platform.masking import mask_phone
from linli.residentapp import forms, notices, reports
from linli.residentapp.context import AppContext
from linli.residentapp.models import CASE_OPEN_STATUSES
from linli.residentapp.schemas import AppMe, HomeOut, MyHousehold, OpenItem
from linli.residents import service as registry
from linli.tenants import service as identity

OPEN_ITEMS = 20


async def my_households(session: AsyncSession, ctx: AppContext) -> list[MyHousehold]:
    nodes = NodeService(session)
    out = []
    for household in await registry.own_households(session, actor=ctx.actor):
        if not ctx.inside(household.node_path):
            continue
        estate = await nodes.get_visible(household.node_id)
        names = await reports.location_names(nodes, household.location_id)
        out.append(
            MyHousehold(
                id=household.id,
                estate_id=estate.id,
                estate_name=estate.name,
                building=names.get("building"),
                unit=names.get("unit"),
                location_id=household.location_id,
                room=household.room,
            )
        )
    return out


async def open_items(session: AsyncSession, ctx: AppContext) -> list[OpenItem]:
    items_by_code = await reports.catalog(session)
    events = await reading.list_events(
        session,
        actor=ctx.actor,
        filters=reading.EventFilters(
            within_path=ctx.app.node_path, status=",".join((*OPEN_STATUSES, "resolved")), mine=True
        ),
        before=None,
        limit=OPEN_ITEMS,
    )
    out = [
        OpenItem(
            kind="report",
            id=str(e.id),
            title=items_by_code[e.item_code].name if e.item_code in items_by_code else e.item_code,
            title_en=items_by_code[e.item_code].name_en if e.item_code in items_by_code else e.item_code,
            status=e.status,
            created_at=e.created_at,
            due_at=e.accept_by
            if e.status in ("new", "dispatched")
            else e.resolve_by
            if e.status != "resolved"
            else None,
        )
        for e in events
    ]
    services = {s.code: s for s in ctx.app.services()}
    for case in await forms.list_cases(
        session,
        actor=ctx.actor,
        within_path=ctx.app.node_path,
        mine=True,
        statuses=CASE_OPEN_STATUSES,
        service=None,
        before_id=None,
        limit=OPEN_ITEMS,
    ):
        service = services.get(case.service_code)
        out.append(
            OpenItem(
                kind="form_case",
                id=str(case.id),
                title=service.name if service else case.service_code,
                title_en=service.name_en if service else case.service_code,
                status=case.status,
                created_at=case.created_at,
                due_at=case.resolve_by if case.status == "submitted" else None,
            )
        )
    return sorted(out, key=lambda i: i.created_at, reverse=True)


async def home(session: AsyncSession, *, ctx: AppContext) -> HomeOut:
    user = await identity.get_user(session, user_id=ctx.actor.id)
    return HomeOut(
        app=ctx.app.config(),
        me=AppMe(
            id=ctx.actor.id,
            display_name=user.display_name if user else ctx.actor.display_name,
            phone=mask_phone(user.phone) if user else None,
            households=await my_households(session, ctx),
        ),
        pinned_notices=await notices.visible_notices(session, ctx=ctx, pinned_only=True),
        open_items=await open_items(session, ctx),
        unread_notifications=await notifications.unread_count(session, actor=ctx.actor, within_path=ctx.app.node_path),
    )
