"""Reading events: what the caller may see, and what Open311 shows of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.models import Event, Rating, TimelineEntry
from linli.events.repositories import CatalogRepository, EventRepository, Item
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


async def list_events(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int | None,
    status: str | None,
    item: str | None,
    source: str | None,
    mine: bool,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
    handler_unit_id: int | None = None,
    within_path: str | None = None,
) -> Sequence[Event]:
    """`within_path` narrows to a subtree the caller need not see as a node (a resident's tenant)."""
    within = within_path
    if node_id is not None:
        within = (await NodeService(session).get_visible(node_id)).node_path
    # Under a resident grant only one's own reports, under the caller's other grants every event (RLS
    # already limits rows to grants that may read events); anyone may ask for just theirs.
    staff_paths = () if mine else actor.full_scopes_for("events", "read")
    own_only = mine or staff_paths != actor.scopes_for("events", "read")
    return await EventRepository(session).search(
        within_path=within,
        reporter_id=actor.id if own_only else None,
        reporter_unless_within=staff_paths,
        status=status,
        item_code=item,
        source=source,
        handler_unit_id=handler_unit_id,
        before=before,
        limit=limit,
    )


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
    return await EventRepository(session).search(
        within_path=tenant_path,
        reporter_id=None,
        status=statuses,
        item_code=",".join(sorted(codes)) if codes is not None else None,
        source=None,
        created_from=created_from,
        created_to=created_to,
        ids=ids,
        before=None,
        limit=limit,
    )


async def open311_request(session: AsyncSession, *, tenant_path: str, event_id: uuid.UUID, public: bool) -> Event:
    event = await EventRepository(session).get(event_id)
    if event is None or not path_within(event.node_path, tenant_path):
        raise NotFound("request")
    if public and event.item_code not in await open311_public_items(session, tenant_path=tenant_path):
        raise NotFound("request")
    return event


async def place_names(session: AsyncSession, events: Sequence[Event]) -> dict[int, str]:
    """The name of each event's node (the public view locates an event only there)."""
    nodes = NodeRepository(session)
    places: dict[int, str] = {}
    for event in events:
        if event.node_id not in places:
            node = await nodes.get(event.node_id)
            places[event.node_id] = node.name if node is not None else ""
    return places
