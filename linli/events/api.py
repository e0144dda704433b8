from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from linli.events import intake, kpis, lifecycle, notifications, reading, routing
from linli.events.detail import event_detail
from linli.events.permissions import (
    EventsAttach,
    EventsCreate,
    EventsRate,
    EventsRead,
    EventsTransition,
    HandlersCreate,
    HandlersDelete,
    HandlersRead,
    HandlersUpdate,
    KpisRead,
    RoutingCreate,
    RoutingDelete,
    RoutingRead,
)
from linli.events.schemas import (
    AiDetectionIn,
    AiDetectionOut,
    AttachmentOut,
    DeadlineOut,
    DuplicateReportOut,
    EventCounts,
    EventCreate,
    EventDetailOut,
    EventLineOut,
    EventOut,
    EventRow,
    HandlerUnitCreate,
    HandlerUnitOut,
    HandlerUnitUpdate,
    KpiOut,
    MemberCreate,
    NotificationOut,
    PreferenceIn,
    PreferenceOut,
    RatingIn,
    RatingOut,
    RoutingRuleCreate,
    RoutingRuleOut,
    RoutingTestOut,
    TimelineOut,
    TransitionIn,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookOut,
)
from linli.platform.access import DbSession
from linli.platform.errors import Forbidden, PayloadTooLarge
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
from linli.platform.settings import get_settings
from linli.platform.window import require_aware, resolve_window

router = APIRouter(prefix="/api/v1", tags=["events"])
SIGNATURE_HEADER = "x-linli-signature"
TIMESTAMP_HEADER = "x-linli-timestamp"


@router.post(
    "/events",
    status_code=201,
    operation_id="create_event",
    response_model=EventOut,
    responses={200: {"model": EventOut, "description": "merged into an open event"}},
)
async def create_event(
    body: EventCreate,
    session: DbSession,
    principal: EventsCreate,
) -> JSONResponse:
    """Report an event; it is dispatched at once. The same item at the same place within the
    duplicate window merges into the open event (200, `merged: true`)."""
    event, merged = await intake.create_event(
        session,
        actor=principal,
        intake=intake.Intake(
            item_code=body.item,
            node_id=body.node_id,
            source=intake.source_for(principal, body.source),
            description=body.description,
            location=body.location.model_dump(exclude_none=True),
            external_ref=body.external_ref,
            reporter_label=body.reporter_label,
        ),
    )
    out = EventOut.of(event, merged=merged)
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if merged else 201)


@router.post(
    "/events/ai-detections",
    operation_id="ingest_ai_detection",
    response_model=AiDetectionOut,
    responses={201: {"model": AiDetectionOut}, 202: {"model": AiDetectionOut, "description": "ignored"}},
)
async def ingest_ai_detection(
    request: Request,
    session: DbSession,
    principal: EventsCreate,
) -> JSONResponse:
    """An AI video platform reports a detection, with an API key created for source `ai_video`. The raw
    body is signed with the key's signing secret (shown once at creation, not the key itself):
    `X-Linli-Timestamp: <unix seconds>` and `X-Linli-Signature: sha256=<hex HMAC-SHA256 of
    "<timestamp>.<body>">`. A timestamp more than 5 minutes off, or a signature already used, is refused."""
    if principal.kind != "api_key" or principal.extra.get("api_key_source") != "ai_video":
        raise Forbidden("detections come from an API key created for ai_video", code="api_key_required")
    raw = await request.body()
    if len(raw) > 12 * 1024 * 1024:
        raise PayloadTooLarge("detection body too large", code="body_too_large")
    await intake.verify_detection_signature(
        session,
        key_id=principal.id,
        timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
        signature=request.headers.get(SIGNATURE_HEADER, ""),
        body=raw,
    )
    try:
        body = AiDetectionIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    status, reason, event = await intake.ingest_ai_detection(
        session,
        actor=principal,
        detection_id=body.detection_id,
        detection_type=body.type,
        confidence=body.confidence,
        node_id=body.node_id,
        camera_id=body.camera_id,
        location=body.location.model_dump(exclude_none=True),
        snapshot_b64=body.snapshot,
        description=body.description,
        detected_at=body.detected_at,
    )
    out = AiDetectionOut(status=status, reason=reason, event=EventOut.of(event) if event else None)
    code = {"created": 201, "ignored": 202}.get(status, 200)
    return JSONResponse(out.model_dump(mode="json"), status_code=code)


@router.get("/events/kpis", operation_id="event_kpis")
async def event_kpis(
    session: DbSession,
    principal: KpisRead,
    node_id: Annotated[int | None, Query(description="subtree root (default: the node of your grant)")] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> KpiOut:
    """KPIs of a subtree for events created in [from, to) (default: the last 30 days)."""
    since, until = resolve_window(since, until)
    return KpiOut.model_validate(await kpis.kpis(session, actor=principal, node_id=node_id, since=since, until=until))


def event_filters(
    node_id: Annotated[Id | None, Query(description="the node's subtree")] = None,
    status: Annotated[str | None, Query(max_length=100, description="statuses, comma-separated")] = None,
    line: Annotated[str | None, Query(max_length=200, description="line codes, comma-separated")] = None,
    item: Annotated[str | None, Query(max_length=500, description="item codes, comma-separated")] = None,
    source: Annotated[str | None, Query(max_length=200, description="sources, comma-separated")] = None,
    handler_unit_id: Id | None = None,
    mine: Annotated[bool, Query(description="only what I reported (or was merged into)")] = False,
    assigned: Annotated[
        Literal["me", "my_units"] | None,
        Query(description="`me`: accepted by me; `my_units`: handled by my units or my handling role"),
    ] = None,
    overdue: Annotated[bool, Query(description="only open events past a deadline")] = False,
    created_from: Annotated[datetime | None, Query(alias="from", description="created at or after")] = None,
    created_to: Annotated[datetime | None, Query(alias="to", description="created before")] = None,
    updated_since: Annotated[
        datetime | None, Query(description="changed after this (poll with the previous page's `as_of`)")
    ] = None,
) -> reading.EventFilters:
    require_aware(created_from, created_to, updated_since)
    return reading.EventFilters(
        node_id=node_id,
        status=status,
        line=line,
        item=item,
        source=source,
        handler_unit_id=handler_unit_id,
        mine=mine,
        assigned=assigned,
        overdue=overdue,
        created_from=created_from,
        created_to=created_to,
        updated_since=updated_since,
    )


EventFiltersQuery = Annotated[reading.EventFilters, Depends(event_filters)]
# Polling: `as_of` lies this far before the answer, so that a change committed while the answer was
# made (its time is taken when its request starts) is in the next poll.
POLL_OVERLAP = timedelta(seconds=30)


@router.get("/events/counts", operation_id="count_events")
async def count_events(session: DbSession, principal: EventsRead, filters: EventFiltersQuery) -> EventCounts:
    """How many events the list with the same filters holds, by status, and how many are overdue."""
    by_status, overdue = await reading.count_events(session, actor=principal, filters=filters)
    return EventCounts(total=sum(by_status.values()), overdue=overdue, by_status=by_status)


@router.get("/event-items", operation_id="list_event_items")
async def list_event_items(session: DbSession, principal: EventsRead) -> Page[EventLineOut]:
    """The taxonomy: the business lines in their order, each with its items (names, handler kind, SLA,
    the sources that may raise it, whether resolving needs a photo). One page."""
    return Page(items=[EventLineOut.model_validate(line) for line in await reading.catalog_lines(session)])


AS_OF_HEADER = "X-Linli-As-Of"


@router.get(
    "/events",
    operation_id="list_events",
    responses={
        200: {
            "headers": {
                AS_OF_HEADER: {
                    "description": "poll for changes with this as `updated_since`: it lies a little before this "
                    "answer, so nothing committed meanwhile is missed (events may come again: merge them by id)",
                    "schema": {"type": "string", "format": "date-time"},
                }
            }
        }
    },
)
async def list_events(
    response: Response,
    session: DbSession,
    principal: EventsRead,
    filters: EventFiltersQuery,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[EventRow]:
    """Newest first. Residents see their own reports; `handler_unit_id` gives a unit's queue. Poll for
    new and changed events with `updated_since` (every 10 s is fine), from the `X-Linli-As-Of` header."""
    as_of = datetime.now(UTC) - POLL_OVERLAP
    rows = list(
        await reading.list_events(
            session, actor=principal, filters=filters, before=decode_time_cursor(cursor), limit=limit
        )
    )
    names = await reading.place_names(session, rows)
    response.headers[AS_OF_HEADER] = as_of.isoformat()
    return Page(
        items=[EventRow(**EventOut.of(e).model_dump(), node_name=names.get(e.node_id, "")) for e in rows],
        next_cursor=next_time_cursor(rows, limit),
    )


@router.get("/events/{event_id}", operation_id="get_event")
async def get_event(event_id: uuid.UUID, session: DbSession, principal: EventsRead) -> EventDetailOut:
    """The event with its timeline, deadlines, reports merged into it, rating, and the actions the caller
    may take now (the console shows only those)."""
    detail = await event_detail(session, actor=principal, event_id=event_id)
    timeline = [TimelineOut.model_validate(t) for t in detail.timeline]
    return EventDetailOut.model_validate(
        EventOut.of(detail.event).model_dump()
        | {
            "node_name": detail.node_name,
            "timeline": timeline,
            "allowed_actions": detail.allowed_actions,
            "evidence_required": detail.evidence_required,
            "escalation_node_name": detail.escalation_node_name,
            "deadlines": [DeadlineOut.model_validate(d) for d in detail.deadlines],
            "also_reported_by": [DuplicateReportOut.of(t) for t in timeline if t.action == "duplicate"],
            "rating": RatingOut.model_validate(detail.rating) if detail.rating else None,
        }
    )


@router.post("/events/{event_id}/transitions", operation_id="transition_event")
async def transition_event(
    event_id: uuid.UUID,
    body: TransitionIn,
    session: DbSession,
    principal: EventsTransition,
) -> EventOut:
    event = await lifecycle.transition(
        session,
        actor=principal,
        event_id=event_id,
        action=body.action,
        note=body.note,
        attachments=body.attachments,
        handler_unit_id=body.handler_unit_id,
        version=body.version,
    )
    return EventOut.of(event)


@router.post("/events/{event_id}/attachments", status_code=201, operation_id="upload_event_attachment")
async def upload_attachment(
    event_id: uuid.UUID,
    session: DbSession,
    principal: EventsAttach,
    file: Annotated[UploadFile, File(description="a JPEG, PNG or WebP photo")],
) -> AttachmentOut:
    limit = get_settings().events_max_attachment_bytes
    data = await file.read(limit + 1)
    attachment = await lifecycle.add_attachment(
        session, actor=principal, event_id=event_id, filename=file.filename or "photo", data=data
    )
    return AttachmentOut.model_validate(attachment)


@router.get("/events/{event_id}/attachments", operation_id="list_event_attachments")
async def list_attachments(event_id: uuid.UUID, session: DbSession, principal: EventsRead) -> Page[AttachmentOut]:
    rows = await lifecycle.attachments(session, actor=principal, event_id=event_id)
    return Page(items=[AttachmentOut.model_validate(a) for a in rows])


@router.get("/events/{event_id}/attachments/{attachment_id}", operation_id="get_event_attachment")
async def get_attachment(
    event_id: uuid.UUID,
    attachment_id: uuid.UUID,
    session: DbSession,
    principal: EventsRead,
) -> Response:
    attachment, data = await lifecycle.read_attachment(
        session, actor=principal, event_id=event_id, attachment_id=attachment_id
    )
    return Response(
        data,
        media_type=attachment.content_type,
        headers={"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"},
    )


@router.post("/events/{event_id}/rating", status_code=201, operation_id="rate_event")
async def rate_event(
    event_id: uuid.UUID,
    body: RatingIn,
    session: DbSession,
    principal: EventsRate,
) -> RatingOut:
    rating, reopened = await lifecycle.rate(
        session, actor=principal, event_id=event_id, score=body.score, comment=body.comment, reopen=body.reopen
    )
    out = RatingOut.model_validate(rating)
    out.reopened = reopened
    return out


# Handler units, routing, webhooks ------------------------------------------------------------


@router.get("/handler-units", operation_id="list_handler_units")
async def list_handler_units(
    session: DbSession,
    principal: HandlersRead,
    node_id: Id | None = None,
    kind: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[HandlerUnitOut]:
    rows = await routing.list_units(
        session, node_id=node_id, kind=kind, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[HandlerUnitOut.model_validate(u) for u in rows], next_cursor=next_cursor(rows, limit))


@router.post("/handler-units", status_code=201, operation_id="create_handler_unit")
async def create_handler_unit(body: HandlerUnitCreate, session: DbSession, principal: HandlersCreate) -> HandlerUnitOut:
    unit = await routing.create_unit(
        session, actor=principal, node_id=body.node_id, kind=body.kind, name=body.name, contact=body.contact
    )
    return HandlerUnitOut.model_validate(unit)


@router.patch("/handler-units/{unit_id}", operation_id="update_handler_unit")
async def update_handler_unit(
    unit_id: Id,
    body: HandlerUnitUpdate,
    session: DbSession,
    principal: HandlersUpdate,
) -> HandlerUnitOut:
    unit = await routing.update_unit(
        session, actor=principal, unit_id=unit_id, name=body.name, contact=body.contact, active=body.active
    )
    return HandlerUnitOut.model_validate(unit)


@router.get("/handler-units/{unit_id}/members", operation_id="list_handler_unit_members")
async def list_handler_unit_members(unit_id: Id, session: DbSession, principal: HandlersRead) -> Page[uuid.UUID]:
    """The ids of the unit's members (the people its events are dispatched to)."""
    return Page(items=await routing.unit_members(session, actor=principal, unit_id=unit_id), next_cursor=None)


@router.post("/handler-units/{unit_id}/members", status_code=201, operation_id="add_handler_unit_member")
async def add_handler_unit_member(
    unit_id: Id,
    body: MemberCreate,
    session: DbSession,
    principal: HandlersUpdate,
) -> dict[str, Any]:
    member = await routing.add_member(session, actor=principal, unit_id=unit_id, user_id=body.user_id)
    return {"handler_unit_id": member.handler_unit_id, "user_id": str(member.user_id)}


@router.get("/routing-rules", operation_id="list_routing_rules")
async def list_routing_rules(
    session: DbSession,
    principal: RoutingRead,
    node_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[RoutingRuleOut]:
    rows = await routing.list_rules(session, node_id=node_id, after_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=[RoutingRuleOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.get("/routing-rules/test", operation_id="test_routing")
async def test_routing(
    session: DbSession,
    principal: RoutingRead,
    item: Annotated[str, Query(max_length=100, description="the event item's code", examples=["ca_road_damage"])],
    node_id: Annotated[
        Id | None, Query(description="where the event would be reported (default: the node of your grant)")
    ] = None,
) -> RoutingTestOut:
    """Who would receive an event of `item` at the node, resolved exactly as dispatch resolves it."""
    where = principal.home_node_id() if node_id is None else node_id
    route, members = await routing.would_receive(session, actor=principal, item=item, node_id=where)
    if route is None:
        return RoutingTestOut(routed=False)
    return RoutingTestOut(
        routed=True,
        handler_unit_id=route.handler_unit_id,
        name=route.name,
        kind=route.kind,
        node_id=route.node_id,
        unrouted=route.unrouted,
        member_ids=members,
    )


@router.post("/routing-rules", status_code=201, operation_id="create_routing_rule")
async def create_routing_rule(body: RoutingRuleCreate, session: DbSession, principal: RoutingCreate) -> RoutingRuleOut:
    rule = await routing.create_rule(
        session,
        actor=principal,
        node_id=body.node_id,
        item=body.item,
        line=body.line,
        handler_unit_id=body.handler_unit_id,
        priority=body.priority,
    )
    return RoutingRuleOut.model_validate(rule)


@router.delete("/routing-rules/{rule_id}", status_code=204, operation_id="delete_routing_rule")
async def delete_routing_rule(rule_id: Id, session: DbSession, principal: RoutingDelete) -> Response:
    await routing.delete_rule(session, actor=principal, rule_id=rule_id)
    return Response(status_code=204)


@router.post("/webhooks", status_code=201, operation_id="create_webhook")
async def create_webhook(body: WebhookCreate, session: DbSession, principal: HandlersCreate) -> WebhookCreated:
    """Register a webhook for events under a node; the secret (shown once) signs every delivery."""
    endpoint = await notifications.create_webhook(session, actor=principal, node_id=body.node_id, url=body.url)
    return WebhookCreated.model_validate(endpoint)


@router.get("/webhooks", operation_id="list_webhooks")
async def list_webhooks(
    session: DbSession,
    principal: HandlersRead,
    node_id: Id | None = None,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[WebhookOut]:
    """Webhook endpoints in scope (never their secrets)."""
    rows = await notifications.list_webhooks(
        session, node_id=node_id, active=active, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[WebhookOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.get("/webhooks/{webhook_id}/deliveries", operation_id="list_webhook_deliveries")
async def list_webhook_deliveries(
    webhook_id: Id, session: DbSession, principal: HandlersRead, cursor: Cursor = None, limit: Limit = 20
) -> Page[WebhookDeliveryOut]:
    """The endpoint's recent deliveries, newest first."""
    rows = await notifications.webhook_deliveries(
        session, actor=principal, webhook_id=webhook_id, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[WebhookDeliveryOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.delete("/webhooks/{webhook_id}", status_code=204, operation_id="retire_webhook")
async def retire_webhook(webhook_id: Id, session: DbSession, principal: HandlersDelete) -> Response:
    """Stop deliveries to an endpoint; it stays listed as inactive, with its history."""
    await notifications.retire_webhook(session, actor=principal, webhook_id=webhook_id)
    return Response(status_code=204)


# Notifications --------------------------------------------------------------------------------


@router.get("/notifications", operation_id="list_notifications", tags=["notifications"])
async def list_notifications(
    session: DbSession,
    principal: EventsRead,
    unread: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[NotificationOut]:
    """The caller's in-app inbox, newest first."""
    rows = await notifications.inbox(
        session, actor=principal, unread_only=unread, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[NotificationOut.model_validate(n) for n in rows], next_cursor=next_cursor(rows, limit))


@router.post("/notifications/{notification_id}/read", operation_id="mark_notification_read", tags=["notifications"])
async def mark_notification_read(notification_id: Id, session: DbSession, principal: EventsRead) -> NotificationOut:
    return NotificationOut.model_validate(
        await notifications.mark_read(session, actor=principal, notification_id=notification_id)
    )


@router.get("/notification-preferences", operation_id="get_notification_preferences", tags=["notifications"])
async def get_preferences(session: DbSession, principal: EventsRead) -> list[PreferenceOut]:
    return [PreferenceOut(**p) for p in await notifications.preferences(session, actor=principal)]


@router.put("/notification-preferences", operation_id="set_notification_preference", tags=["notifications"])
async def set_preference(body: PreferenceIn, session: DbSession, principal: EventsRead) -> list[PreferenceOut]:
    await notifications.set_preference(
        session, actor=principal, channel=body.channel, enabled=body.enabled, min_severity=body.min_severity
    )
    return [PreferenceOut(**p) for p in await notifications.preferences(session, actor=principal)]
