"""Open311 GeoReport v2 for each tenant: the public view of its events (no bearer token), and request
creation by integration API keys."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from linli.events import intake, reading
from linli.events.models import Event
from linli.platform.access import DbSession, Principal, _principal_from_api_key
from linli.platform.db import apply_scopes
from linli.platform.errors import BadRequest, NotFound, Unauthenticated

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
    places = await reading.place_names(session, events)
    return [_request_out(e, place=places.get(e.node_id, "")) for e in events]


async def _open311_reader(session: DbSession, request: Request, path: str, api_key: str | None) -> Principal | None:
    """Who reads requests: an API key (`api_key` or `X-Api-Key`), or None (the public view)."""
    key = request.headers.get("x-api-key") or api_key
    return await reading.open311_reader(session, path=path, api_key=key) if key else None


ApiKeyParam = Annotated[
    str | None, Query(max_length=200, description="an API key with events:read: every request, in full")
]


@open311_router.get("/services.json", operation_id="open311_services")
async def open311_services(tenant_slug: str, session: DbSession) -> list[dict[str, Any]]:
    await reading.open311_tenant_path(session, slug=tenant_slug)
    return [_service_out(i) for i in await reading.catalog_items(session)]


@open311_router.get("/services/{service_code}.json", operation_id="open311_service_definition")
async def open311_service(tenant_slug: str, service_code: str, session: DbSession) -> dict[str, Any]:
    await reading.open311_tenant_path(session, slug=tenant_slug)
    if not await reading.item_exists(session, service_code):
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
    path = await reading.open311_tenant_path(session, slug=tenant_slug)
    reader = await _open311_reader(session, request, path, api_key)
    ids = None
    if service_request_id:
        try:
            ids = [uuid.UUID(s) for s in service_request_id.split(",")]
        except ValueError as exc:
            raise BadRequest("service_request_id must be ids separated by commas", code="bad_request_id") from exc
    statuses = None
    if status and "," not in status:
        statuses = ",".join(CLOSED) if status == "closed" else "new,dispatched,accepted,in_progress"
    if start_date is None and end_date is None and ids is None:
        start_date = datetime.now(UTC) - timedelta(days=90)  # the spec's default window
    rows = await reading.open311_requests(
        session,
        tenant_path=path,
        public=reader is None,
        ids=ids,
        codes=set(service_code.split(",")) if service_code else None,
        statuses=statuses,
        created_from=start_date,
        created_to=end_date,
        limit=limit,
    )
    return await _open311_out(session, rows, reader)


@open311_router.get("/requests/{request_id}.json", operation_id="open311_request")
async def open311_request(
    tenant_slug: str, request_id: str, request: Request, session: DbSession, api_key: ApiKeyParam = None
) -> list[dict[str, Any]]:
    path = await reading.open311_tenant_path(session, slug=tenant_slug)
    reader = await _open311_reader(session, request, path, api_key)
    try:
        event_id = uuid.UUID(request_id)
    except ValueError as exc:
        raise NotFound("request") from exc
    event = await reading.open311_request(session, tenant_path=path, event_id=event_id, public=reader is None)
    return await _open311_out(session, [event], reader)


@open311_router.post("/requests.json", status_code=201, operation_id="open311_create_request")
async def open311_create_request(tenant_slug: str, request: Request, session: DbSession) -> list[dict[str, Any]]:
    """Create a request (form-encoded or JSON). Authenticated by `api_key` (field) or `X-Api-Key`."""
    path = await reading.open311_tenant_path(session, slug=tenant_slug)
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
    event, _ = await intake.create_event(
        session,
        actor=principal,
        intake=intake.Intake(
            item_code=code,
            node_id=node,
            source=intake.source_for(principal, None),
            description=str(fields.get("description") or "")[:2000],
            location=location,
            external_ref=str(fields["external_id"]) if fields.get("external_id") else None,
            reporter_label=" ".join(str(fields.get(k) or "") for k in ("first_name", "last_name")).strip() or None,
        ),
    )
    return [{"service_request_id": str(event.id), "service_notice": event.handler_name, "account_id": None}]
