"""Reading events: what the caller may see, and what Open311 shows of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.models import HANDLING_ROLES, Event, Rating, TimelineEntry
from linli.events.repositories import (
    CatalogRepository,
    EventCriteria,
    EventRepository,
    HandlerUnitRepository,
    Handling,
    Item,
)
from linli.platform.access import (
    Permission,
    Principal,
    _principal_from_api_key,
    access_object,
    path_within,
    tenant_chain,
)
from linli.platform.db import apply_scopes
from linli.platform.errors import Forbidden, NotFound, Unauthenticated
from linli.platform.hierarchy.repository import NodeRepository
from linli.platform.hierarchy.service import NodeService
from linli.tenants.lifecycle import tenant_by_slug

# Open311 without an API key shows only the items a tenant marks public (tenant setting `open311_public`:
# line or item codes), never these lines: they are about people (care, disputes, personal requests).
SENSITIVE_LINES = ("social_affairs", "public_order", "public_service")
OPEN311_PUBLIC_SETTING = "open311_public"
OPEN311_PUBLIC_DEFAULT = ("city_appearance", "property_housing")


async def open311_public_items(session: AsyncSession, *, tenant_path: str) -> set[str]:
    """The item codes anyone may list in the tenant (its own setting over those of the tenants around it)."""
    settings: dict[str, Any] = {}
    for tenant in await tenant_chain(session, tenant_path):
        settings |= tenant.settings
    marked = settings.get(OPEN311_PUBLIC_SETTING, OPEN311_PUBLIC_DEFAULT)
    if not isinstance(marked, list | tuple):
        marked = OPEN311_PUBLIC_DEFAULT
    codes = {str(m) for m in marked}
    return {
        i["code"]
        for i in await CatalogRepository(session).items()
        if (i["line_code"] in codes or i["code"] in codes) and i["line_code"] not in SENSITIVE_LINES
    }


def _only_resident(actor: Principal, node_path: str) -> bool:
    return all(g.role == "resident" for g in actor.grants_covering(node_path))


def reporters(event: Event) -> list[uuid.UUID]:
    """The first reporter and everyone whose report was merged into the event."""
    out = [event.reporter_id] if event.reporter_id else []
    return out + [uuid.UUID(c) for c in event.attrs.get("co_reporters", [])]


async def get_event(session: AsyncSession, *, actor: Principal, event_id: uuid.UUID, for_update: bool = False) -> Event:
    event = await access_object(
        session,
        actor,
        await EventRepository(session).get(event_id, for_update=for_update),
        permission=Permission("events", "read"),
        what="event",
    )
    if _only_resident(actor, event.node_path) and actor.id not in reporters(event):
        raise NotFound("event")
    return event


@dataclass(frozen=True)
class EventFilters:
    """What the caller asks a list (or its counts) for; every filter narrows."""

    node_id: int | None = None
    status: str | None = None
    line: str | None = None
    item: str | None = None
    source: str | None = None
    handler_unit_id: int | None = None
    mine: bool = False
    assigned: Literal["me", "my_units"] | None = None
    overdue: bool = False
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_since: datetime | None = None
    # A subtree the caller need not see as a node (a resident's tenant, for the resident app).
    within_path: str | None = None


async def _handling(session: AsyncSession, actor: Principal) -> Handling:
    units = await HandlerUnitRepository(session).unit_ids_of(actor.id) if actor.kind == "user" else []
    kind_paths = {kind: [g.node_path for g in actor.grants if g.role == role] for kind, role in HANDLING_ROLES.items()}
    return Handling(unit_ids=units, kind_paths=kind_paths)


async def _criteria(session: AsyncSession, actor: Principal, filters: EventFilters, at: datetime) -> EventCriteria:
    within = filters.within_path
    if filters.node_id is not None:
        within = (await NodeService(session).get_visible(filters.node_id)).node_path
    # Under a resident grant only one's own reports, under the caller's other grants every event (RLS
    # already limits rows to grants that may read events); anyone may ask for just theirs.
    staff_paths = () if filters.mine else actor.full_scopes_for("events", "read")
    own_only = filters.mine or staff_paths != actor.scopes_for("events", "read")
    return EventCriteria(
        within_path=within,
        reporter_id=actor.id if own_only else None,
        reporter_unless_within=staff_paths,
        status=filters.status,
        line_code=filters.line,
        item_code=filters.item,
        source=filters.source,
        handler_unit_id=filters.handler_unit_id,
        assignee_id=actor.id if filters.assigned == "me" else None,
        handled_by=await _handling(session, actor) if filters.assigned == "my_units" else None,
        overdue_at=at if filters.overdue else None,
        created_from=filters.created_from,
        created_to=filters.created_to,
        updated_since=filters.updated_since,
    )


async def list_events(
    session: AsyncSession,
    *,
    actor: Principal,
    filters: EventFilters,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
    now: datetime | None = None,
) -> Sequence[Event]:
    criteria = await _criteria(session, actor, filters, now or datetime.now(UTC))
    return await EventRepository(session).search(criteria, before=before, limit=limit)


async def count_events(
    session: AsyncSession, *, actor: Principal, filters: EventFilters, now: datetime | None = None
) -> tuple[dict[str, int], int]:
    """How many events the list with these filters holds, by status, and how many are overdue."""
    at = now or datetime.now(UTC)
    return await EventRepository(session).count_by_status(await _criteria(session, actor, filters, at), at=at)


async def count_open_under(session: AsyncSession, node_path: str) -> int:
    """A tenant's open events (the console's tenant list counts them through `TENANT_COUNTERS`)."""
    return await EventRepository(session).count_open_under(node_path)


async def place_names(session: AsyncSession, events: Sequence[Event]) -> dict[int, str]:
    """The name of each event's node (and of the nodes events were escalated to) the caller may see."""
    ids = {e.node_id for e in events} | {e.escalation_node_id for e in events if e.escalation_node_id}
    return await NodeRepository(session).names(ids)


async def event_with_timeline(
    session: AsyncSession, *, actor: Principal, event_id: uuid.UUID
) -> tuple[Event, Sequence[TimelineEntry]]:
    event = await get_event(session, actor=actor, event_id=event_id)
    return event, await EventRepository(session).timeline(event.id)


# Open311 ---------------------------------------------------------------------------------------------


async def open311_tenant_path(session: AsyncSession, *, slug: str) -> str:
    """The tenant's path (404 for an unknown slug); from here on the request reads only inside it."""
    tenant = await tenant_by_slug(session, slug=slug)
    if tenant is None:
        raise NotFound("tenant")
    await apply_scopes(session, [tenant.node_path])
    return tenant.node_path


async def open311_reader(session: AsyncSession, *, path: str, api_key: str) -> Principal:
    """An API key that may read events in the tenant sees its requests in full within its scopes."""
    principal = await _principal_from_api_key(session, api_key)
    if principal is None:
        raise Unauthenticated("the API key is not valid", code="bad_api_key")
    if not any(path_within(g.node_path, path) or path_within(path, g.node_path) for g in principal.grants):
        raise NotFound("tenant")
    readable = [s for s in principal.scopes_for("events", "read") if path_within(s, path) or path_within(path, s)]
    if not readable:
        raise Forbidden("the key may not read events here", code="events_read_required")
    await apply_scopes(session, readable)
    return principal


async def catalog_items(session: AsyncSession) -> list[dict[str, Any]]:
    return await CatalogRepository(session).items()


async def catalog_lines(session: AsyncSession) -> list[dict[str, Any]]:
    """The taxonomy's business lines in their order, each with its items."""
    lines: dict[str, dict[str, Any]] = {}
    for item in await CatalogRepository(session).items():
        line = lines.setdefault(
            item["line_code"],
            {"code": item["line_code"], "name": item["line_name"], "name_en": item["line_name_en"], "items": []},
        )
        line["items"].append(item)
    return list(lines.values())


async def item_exists(session: AsyncSession, code: str) -> bool:
    return await CatalogRepository(session).item(code) is not None


async def catalog_item(session: AsyncSession, code: str) -> Item | None:
    return await CatalogRepository(session).item(code)


async def ratings(session: AsyncSession, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Rating]:
    """The ratings of events the caller already holds (read within the request's scope)."""
    return await EventRepository(session).ratings(event_ids)


async def open311_requests(
    session: AsyncSession,
    *,
    tenant_path: str,
    public: bool,
    ids: Sequence[uuid.UUID] | None,
    codes: set[str] | None,
    statuses: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
) -> Sequence[Event]:
    """The tenant's requests; the public view only of the items the tenant shows publicly."""
    if public:
        shown = await open311_public_items(session, tenant_path=tenant_path)
        codes = shown if codes is None else codes & shown
        if not codes:
            return []
    criteria = EventCriteria(
        within_path=tenant_path,
        status=statuses,
        item_code=",".join(sorted(codes)) if codes is not None else None,
        created_from=created_from,
        created_to=created_to,
        ids=ids,
    )
    return await EventRepository(session).search(criteria, before=None, limit=limit)


async def open311_request(session: AsyncSession, *, tenant_path: str, event_id: uuid.UUID, public: bool) -> Event:
    event = await EventRepository(session).get(event_id)
    if event is None or not path_within(event.node_path, tenant_path):
        raise NotFound("request")
    if public and event.item_code not in await open311_public_items(session, tenant_path=tenant_path):
        raise NotFound("request")
    return event
