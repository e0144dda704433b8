"""An event as its page shows it: the timeline, deadlines, rating and what the caller may do now."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import lifecycle, reading
from linli.events.models import Deadline, Event, Rating, TimelineEntry
from linli.events.records import utcnow
from linli.events.repositories import CatalogRepository, DeadlineRepository, EventRepository
from linli.platform.access import Principal


@dataclass(frozen=True)
class EventDetail:
    event: Event
    node_name: str
    escalation_node_name: str | None
    timeline: Sequence[TimelineEntry]
    allowed_actions: list[str]
    evidence_required: bool
    deadlines: Sequence[Deadline]
    rating: Rating | None


async def event_detail(
    session: AsyncSession, *, actor: Principal, event_id: uuid.UUID, now: datetime | None = None
) -> EventDetail:
    event, timeline = await reading.event_with_timeline(session, actor=actor, event_id=event_id)
    item = await CatalogRepository(session).item(event.item_code)
    names = await reading.place_names(session, [event])
    return EventDetail(
        event=event,
        node_name=names.get(event.node_id, ""),
        escalation_node_name=names.get(event.escalation_node_id) if event.escalation_node_id else None,
        timeline=timeline,
        allowed_actions=await lifecycle.allowed_actions(session, actor=actor, event=event, at=now or utcnow()),
        evidence_required=item is not None and item.evidence_required,
        deadlines=await DeadlineRepository(session).for_event(event.id),
        rating=await EventRepository(session).rating(event.id),
    )
