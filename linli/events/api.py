from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from linli.events import service
from linli.events.config import get_events_settings
from linli.events.models import Event
from linli.events.repository import EventRepository
from linli.events.schemas import (
    AiDetectionIn,
    AiDetectionOut,
    AttachmentOut,
    EventCreate,
    EventDetailOut,
    EventOut,
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
    TimelineOut,
    TransitionIn,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)
from linli.platform.access import DbSession, Principal, _principal_from_api_key, path_within, require
from linli.platform.db import apply_scopes
from linli.platform.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthenticated
from linli.platform.hierarchy.repository import NodeRepository
from linli.platform.hierarchy.service import NodeService
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_cursor, decode_int_cursor, encode_cursor, next_cursor
from linli.platform.window import resolve_window

router = APIRouter(prefix="/api/v1", tags=["events"])
SIGNATURE_HEADER = "x-linli-signature"
TIMESTAMP_HEADER = "x-linli-timestamp"


def _event_cursor(rows: list[Event] | Any, limit: int) -> str | None:
    if len(rows) < limit or not rows:
        return None
    last = rows[-1]
    return encode_cursor(f"{last.created_at.isoformat()}|{last.id}")


def _decode_event_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    try:
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError as exc:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page", code="bad_cursor") from exc


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
    principal: Annotated[Principal, require("events", "create")],
) -> JSONResponse:
    """Report an event; it is dispatched at once. The same item at the same place within the
    duplicate window merges into the open event (200, `merged: true`)."""
    event, merged = await service.create_event(
        session,
        actor=principal,
        intake=service.Intake(
            item_code=body.item,
            node_id=body.node_id,
            source=service.source_for(principal, body.source),
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
    principal: Annotated[Principal, require("events", "create")],
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
    await service.verify_detection_signature(
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
    status, reason, event = await service.ingest_ai_detection(
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
    principal: Annotated[Principal, require("kpis", "read")],
    node_id: Annotated[int | None, Query(description="subtree root (default: the node of your grant)")] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> KpiOut:
    """KPIs of a subtree for events created in [from, to) (default: the last 30 days)."""
    since, until = resolve_window(since, until)
    return KpiOut.model_validate(
        await service.kpis(session, actor=principal, node_id=node_id, since=since, until=until)
    )


@router.get("/events", operation_id="list_events")
async def list_events(
    session: DbSession,
    principal: Annotated[Principal, require("events", "read")],
    node_id: Id | None = None,
    status: Annotated[str | None, Query(max_length=100)] = None,
    item: Annotated[str | None, Query(max_length=500)] = None,
    source: str | None = None,
    handler_unit_id: Id | None = None,
    mine: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[EventOut]:
    """Newest first. Residents see their own reports; `handler_unit_id` gives a unit's queue."""
    rows = list(
        await service.list_events(
            session,
            actor=principal,
            node_id=node_id,
            status=status,
            item=item,
            source=source,
            mine=mine,
            handler_unit_id=handler_unit_id,
            before=_decode_event_cursor(cursor),
            limit=limit,
        )
    )
    return Page(items=[EventOut.of(e) for e in rows], next_cursor=_event_cursor(rows, limit))


@router.get("/events/{event_id}", operation_id="get_event")
async def get_event(
    event_id: uuid.UUID, session: DbSession, principal: Annotated[Principal, require("events", "read")]
) -> EventDetailOut:
    event = await service.get_event(session, actor=principal, event_id=event_id)
    entries = await EventRepository(session).timeline(event.id)
    return EventDetailOut(**EventOut.of(event).model_dump(), timeline=[TimelineOut.model_validate(t) for t in entries])


@router.post("/events/{event_id}/transitions", operation_id="transition_event")
async def transition_event(
    event_id: uuid.UUID,
    body: TransitionIn,
    session: DbSession,
    principal: Annotated[Principal, require("events", "transition")],
) -> EventOut:
    event = await service.transition(
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
    principal: Annotated[Principal, require("events", "attach")],
    file: Annotated[UploadFile, File(description="a JPEG, PNG or WebP photo")],
) -> AttachmentOut:
    limit = get_events_settings().events_max_attachment_bytes
    data = await file.read(limit + 1)
    attachment = await service.add_attachment(
        session, actor=principal, event_id=event_id, filename=file.filename or "photo", data=data
    )
    return AttachmentOut.model_validate(attachment)


@router.get("/events/{event_id}/attachments", operation_id="list_event_attachments")
async def list_attachments(
    event_id: uuid.UUID, session: DbSession, principal: Annotated[Principal, require("events", "read")]
) -> Page[AttachmentOut]:
    event = await service.get_event(session, actor=principal, event_id=event_id)
    rows = await EventRepository(session).attachments(event.id)
    return Page(items=[AttachmentOut.model_validate(a) for a in rows])


@router.get("/events/{event_id}/attachments/{attachment_id}", operation_id="get_event_attachment")
async def get_attachment(
    event_id: uuid.UUID,
    attachment_id: uuid.UUID,
    session: DbSession,
    principal: Annotated[Principal, require("events", "read")],
) -> Response:
    attachment, data = await service.read_attachment(
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
    principal: Annotated[Principal, require("events", "rate")],
) -> RatingOut:
    rating, reopened = await service.rate(
        session, actor=principal, event_id=event_id, score=body.score, comment=body.comment, reopen=body.reopen
    )
    out = RatingOut.model_validate(rating)
    out.reopened = reopened
    return out


# Handler units, routing, webhooks ------------------------------------------------------------


@router.get("/handler-units", operation_id="list_handler_units")
async def list_handler_units(
    session: DbSession,
    principal: Annotated[Principal, require("handlers", "read")],
    node_id: Id | None = None,
    kind: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[HandlerUnitOut]:
    within = await NodeService(session).path_filter(node_id)
    rows = await EventRepository(session).units(
        within_path=within, kind=kind, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[HandlerUnitOut.model_validate(u) for u in rows], next_cursor=next_cursor(rows, limit))


@router.post("/handler-units", status_code=201, operation_id="create_handler_unit")
async def create_handler_unit(
    body: HandlerUnitCreate, session: DbSession, principal: Annotated[Principal, require("handlers", "create")]
) -> HandlerUnitOut:
    unit = await service.create_unit(
        session, actor=principal, node_id=body.node_id, kind=body.kind, name=body.name, contact=body.contact
    )
    return HandlerUnitOut.model_validate(unit)


@router.patch("/handler-units/{unit_id}", operation_id="update_handler_unit")
async def update_handler_unit(
    unit_id: Id,
    body: HandlerUnitUpdate,
    session: DbSession,
    principal: Annotated[Principal, require("handlers", "update")],
) -> HandlerUnitOut:
    unit = await service.update_unit(
        session, actor=principal, unit_id=unit_id, name=body.name, contact=body.contact, active=body.active
    )
    return HandlerUnitOut.model_validate(unit)


@router.post("/handler-units/{unit_id}/members", status_code=201, operation_id="add_handler_unit_member")
async def add_handler_unit_member(
    unit_id: Id,
    body: MemberCreate,
    session: DbSession,
    principal: Annotated[Principal, require("handlers", "update")],
) -> dict[str, Any]:
    member = await service.add_member(session, actor=principal, unit_id=unit_id, user_id=body.user_id)
    return {"handler_unit_id": member.handler_unit_id, "user_id": str(member.user_id)}


@router.get("/routing-rules", operation_id="list_routing_rules")
async def list_routing_rules(
    session: DbSession,
    principal: Annotated[Principal, require("routing", "read")],
    node_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[RoutingRuleOut]:
    within = await NodeService(session).path_filter(node_id)
    rows = await EventRepository(session).rules(within_path=within, after_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=[RoutingRuleOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.post("/routing-rules", status_code=201, operation_id="create_routing_rule")
async def create_routing_rule(
    body: RoutingRuleCreate, session: DbSession, principal: Annotated[Principal, require("routing", "create")]
) -> RoutingRuleOut:
    rule = await service.create_rule(
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
async def delete_routing_rule(
    rule_id: Id, session: DbSession, principal: Annotated[Principal, require("routing", "delete")]
) -> Response:
    await service.delete_rule(session, actor=principal, rule_id=rule_id)
    return Response(status_code=204)


@router.post("/webhooks", status_code=201, operation_id="create_webhook")
async def create_webhook(
    body: WebhookCreate, session: DbSession, principal: Annotated[Principal, require("handlers", "create")]
) -> WebhookCreated:
    """Register a webhook for events under a node; the secret (shown once) signs every delivery."""
    endpoint = await service.create_webhook(session, actor=principal, node_id=body.node_id, url=body.url)
    return WebhookCreated.model_validate(endpoint)


@router.get("/webhooks", operation_id="list_webhooks")
async def list_webhooks(
    session: DbSession,
    principal: Annotated[Principal, require("handlers", "read")],
    node_id: Id | None = None,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[WebhookOut]:
    """Webhook endpoints in scope (never their secrets)."""
    within = await NodeService(session).path_filter(node_id)
    rows = await EventRepository(session).webhooks(
        within_path=within, active=active, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[WebhookOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.delete("/webhooks/{webhook_id}", status_code=204, operation_id="retire_webhook")
async def retire_webhook(
    webhook_id: Id, session: DbSession, principal: Annotated[Principal, require("handlers", "delete")]
) -> Response:
    """Stop deliveries to an endpoint; it stays listed as inactive, with its history."""
    await service.retire_webhook(session, actor=principal, webhook_id=webhook_id)
    return Response(status_code=204)


# Notifications --------------------------------------------------------------------------------


@router.get("/notifications", operation_id="list_notifications", tags=["notifications"])
async def list_notifications(
    session: DbSession,
    principal: Annotated[Principal, require("events", "read")],
    unread: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[NotificationOut]:
    """The caller's in-app inbox, newest first."""
    rows = await service.inbox(
        session, actor=principal, unread_only=unread, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[NotificationOut.model_validate(n) for n in rows], next_cursor=next_cursor(rows, limit))


@router.post("/notifications/{notification_id}/read", operation_id="mark_notification_read", tags=["notifications"])
async def mark_notification_read(
    notification_id: Id, session: DbSession, principal: Annotated[Principal, require("events", "read")]
) -> NotificationOut:
    return NotificationOut.model_validate(
        await service.mark_read(session, actor=principal, notification_id=notification_id)
    )


@router.get("/notification-preferences", operation_id="get_notification_preferences", tags=["notifications"])
async def get_preferences(
    session: DbSession, principal: Annotated[Principal, require("events", "read")]
) -> list[PreferenceOut]:
    return [PreferenceOut(**p) for p in await service.preferences(session, actor=principal)]


@router.put("/notification-preferences", operation_id="set_notification_preference", tags=["notifications"])
async def set_preference(
    body: PreferenceIn, session: DbSession, principal: Annotated[Principal, require("events", "read")]
) -> list[PreferenceOut]:
    await service.set_preference(
        session, actor=principal, channel=body.channel, enabled=body.enabled, min_severity=body.min_severity
    )
    return [PreferenceOut(**p) for p in await service.preferences(session, actor=principal)]


# Open311 GeoReport v2 --------------------------------------------------------------------------

open311_router = APIRouter(prefix="/open311/v2/{tenant_slug}", tags=["open311"])
# Public by design (GeoReport v2): no bearer token; POST needs an integration API key. Listed here so
# the "every endpoint declares a permission" check can allow-list exactly these.
PUBLIC_PATHS = (
    "/open311/v2/{tenant_slug}/services.json",
    "/open311/v2/{tenant_slug}/services/{service_code}.json",
    "/open311/v2/{tenant_slug}/requests.json",
    "/open311/v2/{tenant_slug}/requests/{request_id}.json",
)
CLOSED = ("resolved", "closed", "cancelled")


async def _tenant_scope(session: DbSession, slug: str) -> str:
    from sqlalchemy import text

    row = (
        await session.execute(text("select node_path::text, status from linli_tenant_by_slug(:s)"), {"s": slug})
    ).first()
    if row is None:
        raise NotFound("tenant")
    await apply_scopes(session, [row[0]])
    return str(row[0])


def _service_out(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "service_code": item["code"],
        "service_name": item["name"],
        "description": item["name_en"],
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(item["sources"]),
        "group": item["line_name"],
    }


def _request_out(event: Event, *, place: str | None = None) -> dict[str, Any]:
    """A GeoReport request: in full for an API key that may read events; for anyone else (`place` given)
    without what residents wrote and located only at its estate (or the node above it)."""
    public = place is not None
    loc = {} if public else event.location
    return {
        "service_request_id": str(event.id),
        "status": "closed" if event.status in CLOSED else "open",
        "status_notes": event.status,
        "service_name": event.item_code,
        "service_code": event.item_code,
        "description": None if public else event.description,
        "agency_responsible": event.handler_name,
        "service_notice": None,
        "requested_datetime": event.created_at.isoformat(),
        "updated_datetime": event.updated_at.isoformat(),
        "expected_datetime": event.resolve_by.isoformat() if event.resolve_by else None,
        "address": place
        if public
        else loc.get("address") or " ".join(str(loc[k]) for k in ("building", "unit") if loc.get(k)) or None,
        "address_id": event.node_id,
        "lat": loc.get("lat"),
        "long": loc.get("lon"),
        "media_url": None,
    }


async def _open311_out(session: DbSession, events: Sequence[Event], reader: Principal | None) -> list[dict[str, Any]]:
    if reader is not None:
        return [_request_out(e) for e in events]
    nodes = NodeRepository(session)
    places: dict[int, str] = {}
    for event in events:
        if event.node_id not in places:
            node = await nodes.get(event.node_id)
            places[event.node_id] = node.name if node is not None else ""
    return [_request_out(e, place=places[e.node_id]) for e in events]


async def _open311_reader(session: DbSession, request: Request, path: str, api_key: str | None) -> Principal | None:
    """Who reads requests: an API key (`api_key` or `X-Api-Key`) that may read events in the tenant sees
    them in full within its scopes; without a key, None (the public view)."""
    key = request.headers.get("x-api-key") or api_key
    if not key:
        return None
    principal = await _principal_from_api_key(session, key)
    if principal is None:
        raise Unauthenticated("the API key is not valid", code="bad_api_key")
    if not any(path_within(g.node_path, path) or path_within(path, g.node_path) for g in principal.grants):
        raise NotFound("tenant")
    readable = [s for s in principal.scopes_for("events", "read") if path_within(s, path) or path_within(path, s)]
    if not readable:
        raise Forbidden("the key may not read events here", code="events_read_required")
    await apply_scopes(session, readable)
    return principal


ApiKeyParam = Annotated[
    str | None, Query(max_length=200, description="an API key with events:read: every request, in full")
]


@open311_router.get("/services.json", operation_id="open311_services")
async def open311_services(tenant_slug: str, session: DbSession) -> list[dict[str, Any]]:
    await _tenant_scope(session, tenant_slug)
    return [_service_out(i) for i in await EventRepository(session).items()]


@open311_router.get("/services/{service_code}.json", operation_id="open311_service_definition")
async def open311_service(tenant_slug: str, service_code: str, session: DbSession) -> dict[str, Any]:
    await _tenant_scope(session, tenant_slug)
    if await EventRepository(session).item(service_code) is None:
        raise NotFound("service")
    return {"service_code": service_code, "attributes": []}


@open311_router.get("/requests.json", operation_id="open311_requests")
async def open311_requests(
    tenant_slug: str,
    request: Request,
    session: DbSession,
    api_key: ApiKeyParam = None,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=500)] = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)(,(open|closed))?$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[dict[str, Any]]:
    """Requests of the tenant. Without an API key only the items the tenant shows publicly (setting
    `open311_public`), without descriptions and located at their estate; with a key holding events:read,
    everything in the key's scope."""
    path = await _tenant_scope(session, tenant_slug)
    reader = await _open311_reader(session, request, path, api_key)
    ids = None
    if service_request_id:
        try:
            ids = [uuid.UUID(s) for s in service_request_id.split(",")]
        except ValueError as exc:
            raise BadRequest("service_request_id must be ids separated by commas", code="bad_request_id") from exc
    codes = set(service_code.split(",")) if service_code else None
    if reader is None:
        public = await service.open311_public_items(session, tenant_path=path)
        codes = public if codes is None else codes & public
        if not codes:
            return []
    statuses = None
    if status and "," not in status:
        statuses = ",".join(CLOSED) if status == "closed" else "new,dispatched,accepted,in_progress"
    if start_date is None and end_date is None and ids is None:
        start_date = datetime.now(UTC) - timedelta(days=90)  # the spec's default window
    rows = await EventRepository(session).search(
        within_path=path,
        reporter_id=None,
        status=statuses,
        item_code=",".join(sorted(codes)) if codes is not None else None,
        source=None,
        created_from=start_date,
        created_to=end_date,
        ids=ids,
        before=None,
        limit=limit,
    )
    return await _open311_out(session, rows, reader)


@open311_router.get("/requests/{request_id}.json", operation_id="open311_request")
async def open311_request(
    tenant_slug: str, request_id: str, request: Request, session: DbSession, api_key: ApiKeyParam = None
) -> list[dict[str, Any]]:
    path = await _tenant_scope(session, tenant_slug)
    reader = await _open311_reader(session, request, path, api_key)
    try:
        event_id = uuid.UUID(request_id)
    except ValueError as exc:
        raise NotFound("request") from exc
    event = await EventRepository(session).get(event_id)
    if event is None or not path_within(event.node_path, path):
        raise NotFound("request")
    if reader is None and event.item_code not in await service.open311_public_items(session, tenant_path=path):
        raise NotFound("request")
    return await _open311_out(session, [event], reader)


@open311_router.post("/requests.json", status_code=201, operation_id="open311_create_request")
async def open311_create_request(tenant_slug: str, request: Request, session: DbSession) -> list[dict[str, Any]]:
    """Create a request (form-encoded or JSON). Authenticated by `api_key` (field) or `X-Api-Key`."""
    path = await _tenant_scope(session, tenant_slug)
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            fields: dict[str, Any] = json.loads(await request.body())
        except ValueError as exc:
            raise BadRequest("body is not JSON", code="bad_json") from exc
        if not isinstance(fields, dict):
            raise BadRequest("body must be a JSON object", code="bad_json")
    else:
        fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    key = request.headers.get("x-api-key") or str(fields.get("api_key") or "")
    principal = await _principal_from_api_key(session, key) if key else None
    if principal is None:
        raise Unauthenticated("an API key is required to create requests", code="api_key_required")
    if not principal.grants_covering(path) and not any(g.node_path.startswith(path + ".") for g in principal.grants):
        raise NotFound("tenant")
    await apply_scopes(session, principal.scopes)
    code = str(fields.get("service_code") or "")
    if not code:
        raise BadRequest("service_code is required", code="service_code_required")
    node_id = fields.get("address_id")
    if node_id is None:
        node_id = principal.grants[0].node_id
    try:
        lat = float(fields["lat"]) if fields.get("lat") not in (None, "") else None
        lon = float(fields["long"]) if fields.get("long") not in (None, "") else None
        node = int(node_id)
    except (TypeError, ValueError) as exc:
        raise BadRequest("lat, long and address_id must be numbers", code="bad_number") from exc
    location = {"lat": lat, "lon": lon, "address": fields.get("address_string")}
    event, _ = await service.create_event(
        session,
        actor=principal,
        intake=service.Intake(
            item_code=code,
            node_id=node,
            source=service.source_for(principal, None),
            description=str(fields.get("description") or "")[:2000],
            location=location,
            external_ref=str(fields["external_id"]) if fields.get("external_id") else None,
            reporter_label=" ".join(str(fields.get(k) or "") for k in ("first_name", "last_name")).strip() or None,
        ),
    )
    return [{"service_request_id": str(event.id), "service_notice": event.handler_name, "account_id": None}]
