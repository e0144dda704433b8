"""Reports (随手拍) from the app: the items residents may raise, a place defaulting to the resident's
home, photos with their metadata stripped, the reporter's own view of the timeline, rating. The events
domain does the work (intake, routing, deadlines, lifecycle); this shapes what a resident may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import intake, lifecycle, reading
from linli.events.models import OPEN_STATUSES, Event, EventAttachment, TimelineEntry
from linli.events.repositories import Item
from linli.platform.access import Principal, role_permits
from linli.platform.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from linli.platform.hierarchy.models import Location
from linli.platform.hierarchy.service import NodeService
from linli.platform.settings import get_settings
from linli.residentapp.context import AppContext
from linli.residentapp.schemas import (
    Deadlines,
    ReportCreate,
    ReportDetail,
    ReportItem,
    ReportLine,
    ReportPhoto,
    ReportPlace,
    ReportRating,
    ReportStep,
    ReportSummary,
)
from linli.residents import service as registry
from linli.services.service import FREE_REPORT_SERVICE

SOURCE = "resident_report"
MAX_PHOTOS = 9
# Timeline steps a reporter sees; internal hand-overs, comments, escalations and merged reports are staff's.
REPORTER_STEPS = frozenset(
    {"created", "dispatched", "accept", "start", "resolve", "close", "reopen", "cancel", "rated", "attachment"}
)
SHOWN_STATES = {"open": (*OPEN_STATUSES, "resolved"), "done": ("closed", "cancelled")}


async def report_items(session: AsyncSession) -> list[ReportLine]:
    """The taxonomy's items whose sources include residents' reports, by business line."""
    lines: dict[str, ReportLine] = {}
    for row in await reading.catalog_items(session):
        if SOURCE not in row["sources"]:
            continue
        line = lines.setdefault(
            row["line_code"],
            ReportLine(code=row["line_code"], name=row["line_name"], name_en=row["line_name_en"], items=[]),
        )
        line.items.append(
            ReportItem(
                code=row["code"],
                name=row["name"],
                name_en=row["name_en"],
                severity=row["severity"],
                accept_minutes=row["accept_minutes"],
                resolve_minutes=row["resolve_minutes"],
                evidence_required=row["evidence_required"],
            )
        )
    return list(lines.values())


async def location_names(nodes: NodeService, location_id: int | None) -> dict[str, str]:
    """`building` and `unit` of a location (a unit lies in a building)."""
    location: Location | None = await nodes.location(location_id) if location_id is not None else None
    if location is None:
        return {}
    if location.kind == "unit" and location.parent_id is not None:
        building = await nodes.location(location.parent_id)
        return {"building": building.name, "unit": location.name} if building else {"unit": location.name}
    return {location.kind: location.name} if location.kind in ("building", "unit") else {}


async def _place(session: AsyncSession, ctx: AppContext, place: ReportPlace) -> tuple[int, dict[str, Any]]:
    """The node and location of a report: a building or unit the caller may report at, else one of the
    caller's households in this tenant (the first by default)."""
    nodes = NodeService(session)
    extra = {k: v for k, v in (("floor", place.floor), ("address", place.address)) if v}
    if place.location_id is not None:
        location = await nodes.location(place.location_id)
        if location is None or not ctx.inside(location.node_path):
            raise NotFound("location")
        return location.node_id, await location_names(nodes, location.id) | extra
    households = [h for h in await registry.own_households(session, actor=ctx.actor) if ctx.inside(h.node_path)]
    if place.household_id is not None:
        households = [h for h in households if h.id == place.household_id]
        if not households:
            raise NotFound("household")
    if not households:
        raise Conflict("you have no household here: name a building or unit", code="no_household")
    home = households[0]
    names = await location_names(nodes, home.location_id)
    return home.node_id, names | ({"room": home.room} if home.room else {}) | extra


async def create_report(session: AsyncSession, *, ctx: AppContext, body: ReportCreate) -> tuple[Event, bool]:
    """Raise the item (from a report service, or freely while 随手拍 is on) as a resident's report; the
    same item at the same place within the window merges into the open event."""
    if body.service is not None:
        item_code = ctx.app.service(body.service, kind="report").item_code
        if item_code is None:
            raise Conflict(f"{body.service} raises no event item", code="service_without_item")
    else:
        ctx.app.service(FREE_REPORT_SERVICE)
        assert body.item is not None  # the schema asks for exactly one of service and item
        item_code = body.item
    item = await reading.catalog_item(session, item_code)
    if item is None:
        raise BadRequest(f"unknown event item {item_code!r}", code="unknown_item")
    intake.check_source(ctx.actor, SOURCE, item)
    node_id, location = await _place(session, ctx, body.place)
    return await intake.create_event(
        session,
        actor=ctx.actor,
        intake=intake.Intake(
            item_code=item.code, node_id=node_id, source=SOURCE, description=body.description, location=location
        ),
    )


def deadlines(event: Event, item: Item | None) -> Deadlines:
    return Deadlines(
        accept_by=event.accept_by,
        resolve_by=event.resolve_by,
        accept_minutes=item.accept_minutes if item else 0,
        resolve_minutes=item.resolve_minutes if item else 0,
    )


def _place_label(event: Event) -> str:
    loc = event.location
    parts = [loc.get(k) for k in ("building", "unit", "floor", "room", "address")]
    return " ".join(str(p) for p in parts if p)


async def catalog(session: AsyncSession) -> dict[str, Item]:
    return {
        row["code"]: Item(**{k: row[k] for k in Item.__dataclass_fields__})
        for row in await reading.catalog_items(session)
    }


def _summary(event: Event, item: Item | None, rated: bool) -> ReportSummary:
    return ReportSummary(
        id=event.id,
        item=event.item_code,
        item_name=item.name if item else event.item_code,
        item_name_en=item.name_en if item else event.item_code,
        status=event.status,
        description=event.description,
        place=_place_label(event),
        created_at=event.created_at,
        deadlines=deadlines(event, item),
        rated=rated,
    )


async def list_reports(
    session: AsyncSession,
    *,
    ctx: AppContext,
    state: str,
    before: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> tuple[list[ReportSummary], Sequence[Event]]:
    """The caller's own reports in this tenant (merged ones included), newest first."""
    status = ",".join(SHOWN_STATES[state]) if state in SHOWN_STATES else None
    events = await reading.list_events(
        session,
        actor=ctx.actor,
        filters=reading.EventFilters(within_path=ctx.app.node_path, status=status, mine=True),
        before=before,
        limit=limit,
    )
    items = await catalog(session)
    rated = await reading.ratings(session, [e.id for e in events])
    return [_summary(e, items.get(e.item_code), e.id in rated) for e in events], events


def _staff_view(actor: Principal, event: Event) -> bool:
    """Roles that handle events see every photo and step (the app's view of a report for staff)."""
    return any(
        g.role != "resident" and role_permits(g.role, "events", "read") for g in actor.grants_covering(event.node_path)
    )


def _visible_photos(
    actor: Principal, event: Event, attachments: Sequence[EventAttachment], entries: Sequence[TimelineEntry]
) -> list[ReportPhoto]:
    """A reporter sees their own photos and those the handler resolved the report with."""
    evidence = {a for e in entries if e.action == "resolve" for a in e.attachments}
    mine = str(actor.id)
    staff = _staff_view(actor, event)
    return [
        ReportPhoto(
            id=a.id,
            content_type=a.content_type,
            size_bytes=a.size_bytes,
            created_at=a.created_at,
            by="me" if a.uploaded_by == mine else "handler",
        )
        for a in attachments
        if staff or a.uploaded_by == mine or a.id in evidence
    ]


def _steps(actor: Principal, event: Event, entries: Sequence[TimelineEntry], shown: set[uuid.UUID]) -> list[ReportStep]:
    staff = _staff_view(actor, event)
    mine = str(actor.id)
    steps = []
    for entry in entries:
        photos = [a for a in entry.attachments if a in shown]
        if not staff and (entry.action not in REPORTER_STEPS or (entry.action == "attachment" and not photos)):
            continue
        by = "me" if entry.actor_id == mine else ("system" if entry.actor_id is None else "handler")
        steps.append(
            ReportStep(at=entry.at, action=entry.action, status=entry.to_status, note=entry.note, photos=photos, by=by)
        )
    return steps


async def _get(session: AsyncSession, ctx: AppContext, event_id: uuid.UUID) -> tuple[Event, Sequence[TimelineEntry]]:
    event, entries = await reading.event_with_timeline(session, actor=ctx.actor, event_id=event_id)
    if not ctx.inside(event.node_path):
        raise NotFound("event")
    return event, entries


async def report_detail(
    session: AsyncSession, *, ctx: AppContext, event_id: uuid.UUID, merged: bool = False
) -> ReportDetail:
    event, entries = await _get(session, ctx, event_id)
    item = await reading.catalog_item(session, event.item_code)
    photos = _visible_photos(
        ctx.actor, event, await lifecycle.attachments(session, actor=ctx.actor, event_id=event.id), entries
    )
    rating = (await reading.ratings(session, [event.id])).get(event.id)
    reporter = event.reporter_id == ctx.actor.id
    return ReportDetail(
        **_summary(event, item, rating is not None).model_dump(),
        handler=event.handler_name,
        merged=merged,
        timeline=_steps(ctx.actor, event, entries, {p.id for p in photos}),
        photos=photos,
        rating=ReportRating(score=rating.score, comment=rating.comment, created_at=rating.created_at)
        if rating
        else None,
        can_rate=reporter and rating is None and event.status in ("resolved", "closed"),
        can_cancel=reporter and event.status in OPEN_STATUSES,
    )


async def add_photo(
    session: AsyncSession, *, ctx: AppContext, event_id: uuid.UUID, filename: str, data: bytes
) -> ReportPhoto:
    """One photo (of at most 9 per person and report), stored without its metadata."""
    event, _ = await _get(session, ctx, event_id)
    if len(data) > get_settings().events_max_attachment_bytes:
        raise PayloadTooLarge("the file is larger than the attachment limit", code="attachment_too_large")
    existing = await lifecycle.attachments(session, actor=ctx.actor, event_id=event.id)
    if sum(a.uploaded_by == str(ctx.actor.id) for a in existing) >= MAX_PHOTOS:
        raise Conflict(f"at most {MAX_PHOTOS} photos per report", code="too_many_photos")
    stored = await lifecycle.add_attachment(session, actor=ctx.actor, event_id=event.id, filename=filename, data=data)
    return ReportPhoto(
        id=stored.id,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        created_at=stored.created_at,
        by="me",
    )


async def read_photo(
    session: AsyncSession, *, ctx: AppContext, event_id: uuid.UUID, attachment_id: uuid.UUID
) -> tuple[str, bytes]:
    event, entries = await _get(session, ctx, event_id)
    attachments = await lifecycle.attachments(session, actor=ctx.actor, event_id=event.id)
    if attachment_id not in {p.id for p in _visible_photos(ctx.actor, event, attachments, entries)}:
        raise NotFound("photo")
    attachment, data = await lifecycle.read_attachment(
        session, actor=ctx.actor, event_id=event.id, attachment_id=attachment_id
    )
    return attachment.content_type, data


async def rate_report(
    session: AsyncSession, *, ctx: AppContext, event_id: uuid.UUID, score: int, comment: str | None, reopen: bool
) -> ReportDetail:
    """A resolved report is confirmed (closed) by its reporter's rating; a low score may reopen it."""
    event, _ = await _get(session, ctx, event_id)
    if event.status == "resolved" and event.reporter_id == ctx.actor.id:
        await lifecycle.transition(session, actor=ctx.actor, event_id=event.id, action="close", note="confirmed")
    await lifecycle.rate(session, actor=ctx.actor, event_id=event.id, score=score, comment=comment, reopen=reopen)
    return await report_detail(session, ctx=ctx, event_id=event.id)


async def cancel_report(
    session: AsyncSession, *, ctx: AppContext, event_id: uuid.UUID, note: str | None
) -> ReportDetail:
    event, _ = await _get(session, ctx, event_id)
    await lifecycle.transition(session, actor=ctx.actor, event_id=event.id, action="cancel", note=note)
    return await report_detail(session, ctx=ctx, event_id=event.id)
