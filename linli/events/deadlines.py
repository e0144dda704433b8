"""Accept and resolve deadlines, and escalation one level up the tree when one is missed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.config import get_events_settings
from linli.events.models import HANDLER_KINDS, Deadline, Event
from linli.events.notifications import notify
from linli.events.records import add_timeline, bump, snapshot, utcnow
from linli.events.repositories import (
    CatalogRepository,
    DeadlineRepository,
    EventRepository,
    HandlerUnitRepository,
    Item,
)
from linli.platform import audit, metrics
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.repository import NodeRepository

log = logging.getLogger(__name__)


BELOW_COMMUNITY = ("grid", "estate")


def schedule_deadlines(session: AsyncSession, event: Event, item: Item, base: datetime) -> None:
    event.accept_by = base + timedelta(minutes=item.accept_minutes)
    event.resolve_by = base + timedelta(minutes=item.resolve_minutes)
    for kind, due in (("accept", event.accept_by), ("resolve", event.resolve_by)):
        deadline = Deadline(event_id=event.id, node_path=event.node_path, kind=kind, level=0, due_at=due)
        session.add(deadline)
        enqueue_deadline(session, deadline)


def enqueue_deadline(session: AsyncSession, deadline: Deadline) -> None:
    if not get_events_settings().events_enqueue_jobs:
        return
    from linli.platform.access import after_commit
    from linli.platform.jobs import enqueue_now

    async def _send() -> None:
        # Read after the commit, when the deadline has its id; the job id makes a re-enqueue a no-op.
        try:
            await enqueue_now(
                "events_fire_deadline",
                deadline.id,
                job_id=f"events-deadline-{deadline.id}",
                defer_until=deadline.due_at,
            )
        except Exception:
            log.warning("could not enqueue deadline %s; the sweep will pick it up", deadline.id, exc_info=True)

    after_commit(session, _send)


async def _met(event: Event, kind: str) -> bool:
    if event.status in ("resolved", "closed", "cancelled"):
        return True
    return kind == "accept" and event.accepted_at is not None


async def _process_deadline(session: AsyncSession, deadline: Deadline, now: datetime) -> bool:
    """Escalate if the deadline was missed; idempotent: a done deadline is never processed again."""
    if deadline.done_at is not None or deadline.due_at > now:
        return False
    event = await EventRepository(session).get(deadline.event_id, for_update=True)
    if event is None:
        deadline.done_at, deadline.outcome = now, "gone"
        return False
    if await _met(event, deadline.kind):
        deadline.done_at, deadline.outcome = now, "met"
        return False
    metrics.DEADLINES_MISSED.labels(deadline.kind).inc()
    nodes = NodeRepository(session)
    # One level up the tree from where the event stands (its node, then each level it reached);
    # a critical event goes no lower than the community: grid workers are its first responders.
    current = await nodes.get(event.escalation_node_id or event.node_id)
    parent: Node | None = await nodes.get(current.parent_id) if current and current.parent_id else None
    while parent is not None and event.severity == "critical" and parent.level in BELOW_COMMUNITY and parent.parent_id:
        parent = await nodes.get(parent.parent_id)
    deadline.done_at = now
    if parent is None:
        deadline.outcome = "top"
        return False
    deadline.outcome = "escalated"
    metrics.ESCALATIONS.inc()
    before = snapshot(event)
    event.escalation_level += 1
    event.escalation_node_id = parent.id
    bump(event, now)
    item = await CatalogRepository(session).item(event.item_code)
    assert item is not None
    what = "accepted" if deadline.kind == "accept" else "resolved"
    add_timeline(
        session,
        event,
        action="escalated",
        actor=None,
        label="deadline",
        at=now,
        note=f"not {what} by {deadline.due_at.isoformat()}; escalated to {parent.name}",
        data={"kind": deadline.kind, "level": event.escalation_level, "node_id": parent.id, "node_level": parent.level},
    )
    minutes = item.accept_minutes if deadline.kind == "accept" else item.resolve_minutes
    following = Deadline(
        event_id=event.id,
        node_path=event.node_path,
        kind=deadline.kind,
        level=deadline.level + 1,
        due_at=now + timedelta(minutes=minutes),
    )
    session.add(following)
    await session.flush()
    enqueue_deadline(session, following)
    units = HandlerUnitRepository(session)
    recipients = await units.users_granted_at(parent.id)
    for kind in HANDLER_KINDS:
        unit_at = await units.unit_at(node_id=parent.id, kind=kind)
        if unit_at is not None:
            recipients += await units.unit_member_ids(unit_at.id)
    await notify(
        session,
        event=event,
        kind="escalated",
        title=f"督办：{item.name}未按时{'受理' if deadline.kind == 'accept' else '办结'}",
        body=f"{event.handler_name or ''} → {parent.name}",
        recipients=recipients,
        at=now,
    )
    await audit.record(
        session,
        actor=None,
        actor_label="deadline",
        action="event.escalate",
        object_type="event",
        object_id=event.id,
        node_path=event.node_path,
        before=before,
        after=snapshot(event) | {"escalation_node_id": parent.id},
    )
    return True


async def sweep_deadlines(session: AsyncSession, *, now: datetime | None = None, limit: int = 500) -> int:
    """Process every due deadline (the periodic safety net behind the deferred jobs); returns how many
    events were escalated."""
    now = now or utcnow()
    escalated = 0
    for deadline in await DeadlineRepository(session).due_deadlines(now=now, limit=limit):
        escalated += await _process_deadline(session, deadline, now)
    return escalated


async def fire_deadline(session: AsyncSession, *, deadline_id: int, now: datetime | None = None) -> bool:
    deadline = await DeadlineRepository(session).deadline(deadline_id)
    if deadline is None:
        return False
    return await _process_deadline(session, deadline, now or utcnow())
