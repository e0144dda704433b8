"""Reading events: what the caller may see, and what Open311 shows of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.models import Event, TimelineEntry
from linli.events.repositories import CatalogRepository, EventRepository
from linli.platform.access import Principal, tenant_chain
from linli.platform.errors import NotFound
from linli.platform.hierarchy.service import NodeService

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
    event = await EventRepository(session).get(event_id, for_update=for_update)
    if event is None or not actor.grants_covering(event.node_path):
        raise NotFound("event")
    if _only_resident(actor, event.node_path) and actor.id not in reporters(event):
        raise NotFound("event")
    actor.authorize("events", "read", event.node_path, what="event")
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
) -> Sequence[Event]:
    within = None
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


async def timeline(session: AsyncSession, *, actor: Principal, event_id: uuid.UUID) -> Sequence[TimelineEntry]:
    event = await get_event(session, actor=actor, event_id=event_id)
    return await EventRepository(session).timeline(event.id)
