"""An event's life after intake: transitions (accept ... close, reopen), evidence photos, ratings."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.config import get_events_settings
from linli.events.deadlines import enqueue_deadline, schedule_deadlines
from linli.events.models import HANDLING_ROLES, OPEN_STATUSES, Deadline, Event, EventAttachment, Rating
from linli.events.notifications import notify
from linli.events.permissions import EVENTS_DISPATCH
from linli.events.reading import get_event, reporters
from linli.events.records import add_timeline, bump, label_of, raised_by, snapshot, utcnow
from linli.events.repositories import (
    CatalogRepository,
    DeadlineRepository,
    EventRepository,
    HandlerUnitRepository,
    Item,
)
from linli.events.routing import hand_to_community_staff, handler_recipients
from linli.events.storage import StorageBackend, get_storage
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, read_only_tenant
from linli.platform.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    LinliError,
    NotFound,
    PayloadTooLarge,
)
from linli.platform.images import clean_photo
from linli.platform.settings import get_settings

# action: (allowed from, to, who may)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None, frozenset[str]]] = {
    "accept": (("dispatched",), "accepted", frozenset({"handler", "staff"})),
    "start": (("accepted",), "in_progress", frozenset({"handler", "staff"})),
    "resolve": (("accepted", "in_progress"), "resolved", frozenset({"handler", "staff"})),
    "close": (("resolved",), "closed", frozenset({"reporter", "staff"})),
    "reject": (("dispatched", "accepted"), "dispatched", frozenset({"handler", "staff"})),
    "cancel": (OPEN_STATUSES, "cancelled", frozenset({"reporter", "staff"})),
    "reopen": (("resolved", "closed"), "dispatched", frozenset({"reporter", "staff"})),
    "dispatch": (("new", "dispatched", "accepted"), "dispatched", frozenset({"staff"})),
    "comment": (
        ("new", "dispatched", "accepted", "in_progress", "resolved", "closed", "cancelled"),
        None,
        frozenset({"reporter", "handler", "staff"}),
    ),
}


# Beyond the transitions: rating a closed event, and adding a photo.
OTHER_ACTIONS = ("rate", "attach")


async def relations(session: AsyncSession, actor: Principal, event: Event) -> set[str]:
    """How the caller relates to the event: reporter, handler (member of the handling unit, or the role
    that handles its kind of unit there) or staff."""
    rel: set[str] = set()
    if actor.can(*EVENTS_DISPATCH, event.node_path):
        rel.add("staff")
    if (actor.kind == "user" and event.reporter_id == actor.id) or event.raised_by == raised_by(actor):
        rel.add("reporter")
    if actor.kind == "user" and event.handler_unit_id is not None:
        covering = {g.role for g in actor.grants_covering(event.node_path)}
        if HANDLING_ROLES.get(event.handler_kind or "") in covering or actor.id in await HandlerUnitRepository(
            session
        ).unit_member_ids(event.handler_unit_id):
            rel.add("handler")
    return rel


def _who_refuses(action: str, rel: set[str]) -> Forbidden | None:
    who = TRANSITIONS[action][2]
    if rel & who:
        return None
    return Forbidden(f"only {' or '.join(sorted(who))} may {action} this event", code="transition_not_allowed")


def _state_refuses(action: str, event: Event, rel: set[str], at: datetime) -> Conflict | None:
    """Whether the event's state allows `action` now (the reporter reopens only within the window)."""
    if event.status not in TRANSITIONS[action][0]:
        return Conflict(f"cannot {action} an event that is {event.status}", code="invalid_transition")
    if action == "reopen" and "staff" not in rel:
        window = timedelta(days=get_events_settings().events_reopen_window_days)
        finished = event.closed_at or event.resolved_at or at
        if at - finished > window:
            return Conflict("the reopen window has passed", code="reopen_window_passed")
    return None


def _rating_refuses(event: Event, actor: Principal, rated: bool) -> LinliError | None:
    if event.reporter_id is None or event.reporter_id != actor.id:
        return Forbidden("only the reporter rates an event", code="not_reporter")
    if event.status != "closed":
        return Conflict("an event is rated once it is closed", code="not_closed")
    if rated:
        return Conflict("this event is already rated", code="already_rated")
    return None


async def allowed_actions(session: AsyncSession, *, actor: Principal, event: Event, at: datetime) -> list[str]:
    """What the caller may do to the event now, by the same rules `transition`, `rate` and
    `add_attachment` apply: the state machine, the caller's roles at the event and how the caller
    relates to it. Nothing in a read-only tenant."""
    if await read_only_tenant(session, event.node_path) is not None:
        return []
    rel = await relations(session, actor, event)
    path = event.node_path
    allowed = [
        action
        for action in TRANSITIONS
        if actor.can("events", "read" if action == "comment" else "transition", path)
        and _who_refuses(action, rel) is None
        and _state_refuses(action, event, rel, at) is None
    ]
    rated = await EventRepository(session).rating(event.id) is not None
    if actor.can("events", "rate", path) and _rating_refuses(event, actor, rated) is None:
        allowed.append("rate")
    if actor.can("events", "attach", path) and rel:
        allowed.append("attach")
    return allowed


async def transition(
    session: AsyncSession,
    *,
    actor: Principal,
    event_id: uuid.UUID,
    action: str,
    note: str | None = None,
    attachments: Sequence[uuid.UUID] = (),
    handler_unit_id: int | None = None,
    version: int | None = None,
    now: datetime | None = None,
) -> Event:
    at = now or utcnow()
    repo = EventRepository(session)
    deadlines = DeadlineRepository(session)
    # The row lock serialises concurrent transitions: the second claimant re-reads the accepted event.
    event = await get_event(session, actor=actor, event_id=event_id, for_update=True)
    if action not in TRANSITIONS:
        raise BadRequest(f"unknown action {action!r}", code="unknown_action")
    to_status = TRANSITIONS[action][1]
    # A comment needs only events:read, but it writes: a read-only tenant refuses it too.
    permission = Permission("events", "read" if action == "comment" else "transition")
    await access_object(session, actor, event, permission=permission, what="event", write=True)
    rel = await relations(session, actor, event)
    if refused := _who_refuses(action, rel):
        raise refused
    if version is not None and version != event.version:
        raise Conflict(
            f"the event changed (version {event.version}, you saw {version}); reload it", code="version_conflict"
        )
    if refused_now := _state_refuses(action, event, rel, at):
        raise refused_now
    known = {a.id for a in await repo.attachments(event.id)}
    unknown = [str(a) for a in attachments if a not in known]
    if unknown:
        raise BadRequest(f"attachments not on this event: {', '.join(unknown)}", code="unknown_attachment")
    item = await CatalogRepository(session).item(event.item_code)
    assert item is not None
    before = snapshot(event)
    from_status = event.status
    label = await label_of(session, actor)
    data: dict[str, Any] = {}

    if action == "accept":
        event.accepted_at = at
        event.assignee_id = actor.id if actor.kind == "user" else None
        await deadlines.close_deadlines(event.id, kinds=("accept",), at=at, outcome="met")
    elif action == "start":
        event.started_at = at
    elif action == "resolve":
        if item.evidence_required and not attachments:
            raise BadRequest(
                f"{item.name} needs a photo of the result: upload it and name it in `attachments`",
                code="evidence_required",
            )
        event.resolved_at = at
        await deadlines.close_deadlines(event.id, kinds=("accept", "resolve"), at=at, outcome="met")
    elif action == "close":
        event.closed_at = at
    elif action == "cancel":
        if not note and "staff" not in rel:
            note = "cancelled by the reporter"
        event.cancelled_at = at
        await deadlines.close_deadlines(event.id, kinds=("accept", "resolve"), at=at, outcome="cancelled")
    elif action == "reject":
        if not note:
            raise BadRequest("say why the event is rejected in `note`", code="reason_required")
        # Back to dispatch: the community staff decide who handles it instead.
        await hand_to_community_staff(session, event)
        event.accepted_at = event.assignee_id = None
        data["rejected_by_unit"] = before["handler_unit_id"]
    elif action == "dispatch":
        if handler_unit_id is None:
            raise BadRequest("name the unit in `handler_unit_id`", code="handler_unit_required")
        unit = await HandlerUnitRepository(session).unit(handler_unit_id)
        if unit is None or not unit.active:
            raise NotFound("handler unit")
        event.handler_unit_id, event.handler_name, event.handler_kind = unit.id, unit.name, unit.kind
        event.unrouted = False
        event.dispatched_at = at
        event.accepted_at = event.assignee_id = None
        data["handler_unit_id"] = unit.id
    elif action == "reopen":
        event.reopen_count += 1
        event.accepted_at = event.started_at = event.resolved_at = event.closed_at = event.assignee_id = None
        await deadlines.close_deadlines(event.id, kinds=("accept", "resolve"), at=at, outcome="reopened")
        schedule_deadlines(session, event, item, at)

    if action in ("reject", "dispatch"):
        # Handed to someone new: they get the item's accept time from now.
        await deadlines.close_deadlines(event.id, kinds=("accept",), at=at, outcome="redispatched")
        event.accept_by = at + timedelta(minutes=item.accept_minutes)
        deadline = Deadline(
            event_id=event.id, node_path=event.node_path, kind="accept", level=0, due_at=event.accept_by
        )
        deadlines.add(deadline)
        enqueue_deadline(session, deadline)
    if to_status is not None:
        event.status = to_status
    bump(event, at)
    add_timeline(
        session,
        event,
        action=action,
        actor=actor,
        label=label,
        at=at,
        from_status=from_status,
        to_status=to_status,
        note=note,
        attachments=attachments,
        data=data,
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=f"event.{action}",
        object_type="event",
        object_id=event.id,
        node_path=event.node_path,
        before=before,
        after=snapshot(event),
    )
    await _notify_transition(session, event, action, actor, label, item, at)
    return event


# How an event decided elsewhere (a form case approved or rejected) walks to its end, step by step.
CONCLUDING_STEPS = {"new": "cancel", "dispatched": "accept", "accepted": "resolve", "in_progress": "resolve"}


async def conclude(session: AsyncSession, *, actor: Principal, event_id: uuid.UUID, note: str) -> Event:
    """Take an open event to `resolved` with the caller's note (accepting it first if need be; an event
    nobody was dispatched to is cancelled), as staff: the matter was decided where it belongs."""
    event = await get_event(session, actor=actor, event_id=event_id)
    while (action := CONCLUDING_STEPS.get(event.status)) is not None:
        event = await transition(session, actor=actor, event_id=event.id, action=action, note=note)
    return event


async def _notify_transition(
    session: AsyncSession,
    event: Event,
    action: str,
    actor: Principal,
    label: str,
    item: Item,
    at: datetime,
) -> None:
    recipients: list[uuid.UUID] = []
    if action in ("accept", "start", "resolve", "reject"):
        recipients += reporters(event)
    if action in ("reject", "dispatch", "reopen", "cancel", "close"):
        recipients += await handler_recipients(session, event)
    recipients = [r for r in recipients if r != actor.id]
    if recipients:
        await notify(
            session,
            event=event,
            kind=action,
            title=f"{item.name}：{event.status}",
            body=f"{label} {action}",
            recipients=recipients,
            at=at,
        )


# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------


async def add_attachment(
    session: AsyncSession,
    *,
    actor: Principal,
    event_id: uuid.UUID,
    filename: str,
    data: bytes,
    storage: StorageBackend | None = None,
) -> EventAttachment:
    """Evidence from the reporter, the handling unit or staff (people and API keys alike)."""
    event = await access_object(
        session,
        actor,
        await get_event(session, actor=actor, event_id=event_id),
        permission=Permission("events", "attach"),
        what="event",
    )
    if not await relations(session, actor, event):
        raise Forbidden("only the reporter, the handler or staff add photos", code="attachment_not_allowed")
    return await store_attachment(session, actor=actor, event=event, filename=filename, data=data, storage=storage)


async def store_attachment(
    session: AsyncSession,
    *,
    actor: Principal,
    event: Event,
    filename: str,
    data: bytes,
    storage: StorageBackend | None = None,
) -> EventAttachment:
    if len(data) > get_settings().events_max_attachment_bytes:
        raise PayloadTooLarge("the file is larger than the attachment limit", code="attachment_too_large")
    # Every way a photo reaches an event (console, app, integrations) stores it without its EXIF position.
    photo = await clean_photo(data)
    data, content_type = photo.data, photo.content_type
    attachment_id = uuid.uuid4()
    key = f"events/{event.id}/{attachment_id}.{photo.extension}"
    await (storage or get_storage()).put(key, data, content_type)
    attachment = EventAttachment(
        id=attachment_id,
        event_id=event.id,
        node_path=event.node_path,
        storage_key=key,
        filename=(filename or "photo")[:200],
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=str(actor.id),
    )
    EventRepository(session).add(attachment)
    at = utcnow()
    add_timeline(
        session,
        event,
        action="attachment",
        actor=actor,
        label=await label_of(session, actor),
        at=at,
        attachments=[attachment_id],
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="event.attachment",
        object_type="event_attachment",
        object_id=attachment_id,
        node_path=event.node_path,
        after={"event_id": str(event.id), "sha256": attachment.sha256, "size": len(data)},
    )
    return attachment


async def attachments(session: AsyncSession, *, actor: Principal, event_id: uuid.UUID) -> Sequence[EventAttachment]:
    event = await get_event(session, actor=actor, event_id=event_id)
    return await EventRepository(session).attachments(event.id)


async def read_attachment(
    session: AsyncSession,
    *,
    actor: Principal,
    event_id: uuid.UUID,
    attachment_id: uuid.UUID,
    storage: StorageBackend | None = None,
) -> tuple[EventAttachment, bytes]:
    event = await get_event(session, actor=actor, event_id=event_id)
    attachment = await EventRepository(session).attachment(attachment_id)
    if attachment is None or attachment.event_id != event.id:
        raise NotFound("attachment")
    return attachment, await (storage or get_storage()).get(attachment.storage_key)


# ---------------------------------------------------------------------------------------------
# Ratings
# ---------------------------------------------------------------------------------------------


async def rate(
    session: AsyncSession,
    *,
    actor: Principal,
    event_id: uuid.UUID,
    score: int,
    comment: str | None,
    reopen: bool,
) -> tuple[Rating, bool]:
    event = await access_object(
        session,
        actor,
        await get_event(session, actor=actor, event_id=event_id, for_update=True),
        permission=Permission("events", "rate"),
        what="event",
    )
    repo = EventRepository(session)
    if refused := _rating_refuses(event, actor, await repo.rating(event.id) is not None):
        raise refused
    rating = Rating(event_id=event.id, node_path=event.node_path, rater_id=actor.id, score=score, comment=comment)
    repo.add(rating)
    at = utcnow()
    bump(event, at)  # the event's satisfaction changed: pollers and the daily statistics see it
    add_timeline(
        session,
        event,
        action="rated",
        actor=actor,
        label=await label_of(session, actor),
        at=at,
        note=comment,
        data={"score": score},
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="event.rate",
        object_type="event",
        object_id=event.id,
        node_path=event.node_path,
        after={"score": score},
    )
    reopened = False
    if reopen and score <= get_events_settings().events_low_rating:
        await transition(session, actor=actor, event_id=event.id, action="reopen", note=comment or "low rating")
        reopened = True
    return rating, reopened
