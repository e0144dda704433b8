"""The governance loop. Services never commit: the request or job boundary does."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.config import get_events_settings
from linli.events.models import (
    HANDLER_KINDS,
    OPEN_STATUSES,
    Deadline,
    Event,
    EventAttachment,
    HandlerUnit,
    HandlerUnitMember,
    Notification,
    NotificationPreference,
    Rating,
    RoutingRule,
    TimelineEntry,
    WebhookEndpoint,
)
from linli.events.notify import DeliveryError, Senders, default_senders, record_failure, send_one
from linli.events.repository import EventRepository, Item, merged_ref
from linli.events.storage import StorageBackend, get_storage, sniff_image
from linli.iot import service as iot
from linli.platform import audit
from linli.platform.access import Principal, assert_writable
from linli.platform.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    LinliError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.repository import NodeRepository
from linli.platform.hierarchy.service import NodeService
from linli.platform.security import new_secret
from linli.tenants.lifecycle import ONBOARDING_HOOKS
from linli.tenants.models import Tenant
from linli.tenants.repository import UserRepository

log = logging.getLogger(__name__)
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
BELOW_COMMUNITY = ("grid", "estate")

# AI video vendors' detection types → taxonomy items (an item code is accepted as the type as well).
DETECTION_TYPES = {
    "garbage_overflow": "ca_garbage_overflow",
    "garbage_misclassified": "ca_garbage_misclassified",
    "construction_waste": "ca_construction_waste",
    "illegal_parking": "ca_illegal_parking",
    "street_vendor": "ca_street_vendor",
    "ebike_in_elevator": "sf_ebike_indoor",
    "ebike_indoor": "sf_ebike_indoor",
    "fire_passage_blocked": "sf_fire_passage_blocked",
    "high_altitude_throwing": "po_high_altitude_throwing",
    "intrusion": "po_intrusion",
    "person_fall": "po_person_fall",
    "gathering": "po_gathering",
    "construction_hazard": "sf_construction_hazard",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def place_key(location: dict[str, Any]) -> str:
    """Where an event is, for duplicate detection: building/unit inside an estate, else a ~10 m grid cell."""
    building, unit = location.get("building"), location.get("unit")
    if building or unit:
        return f"{building or ''}/{unit or ''}"
    lat, lon = location.get("lat"), location.get("lon")
    if lat is not None and lon is not None:
        return f"geo:{round(float(lat), 4)},{round(float(lon), 4)}"
    return ""


def _clean_location(location: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in location.items() if v is not None}


def snapshot(event: Event) -> dict[str, Any]:
    return {
        "status": event.status,
        "item": event.item_code,
        "handler_unit_id": event.handler_unit_id,
        "escalation_level": event.escalation_level,
        "duplicate_count": event.duplicate_count,
        "version": event.version,
    }


async def _actor_label(session: AsyncSession, actor: Principal | None, fallback: str = "system") -> str:
    if actor is None:
        return fallback
    if actor.kind == "user":
        user = await UserRepository(session).get(actor.id)
        if user is not None:
            return user.display_name
    return actor.display_name or str(actor.id)


def _timeline(
    repo: EventRepository,
    event: Event,
    *,
    action: str,
    actor: Principal | None,
    label: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    attachments: Sequence[uuid.UUID] = (),
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        event_id=event.id,
        node_path=event.node_path,
        at=at,
        actor_id=str(actor.id) if actor else None,
        actor_label=label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        attachments=list(attachments),
        data=data or {},
    )
    repo.add(entry)
    return entry


def _bump(event: Event, at: datetime) -> None:
    event.version += 1
    event.updated_at = at


# ---------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    *,
    event: Event,
    kind: str,
    title: str,
    body: str,
    recipients: Iterable[uuid.UUID],
    at: datetime | None = None,
) -> list[Notification]:
    """One in-app row per recipient, plus e-mail/SMS rows where the person asked for them, plus one row
    per webhook endpoint covering the event. Rows other than in-app are delivered by a job."""
    at = at or utcnow()
    repo = EventRepository(session)
    ids = list(dict.fromkeys(recipients))
    users = await UserRepository(session).users_by_ids(ids) if ids else {}
    prefs = await repo.preferences(ids)
    created: list[Notification] = []
    rank = SEVERITY_RANK.get(event.severity, 0)

    def wants(user_id: uuid.UUID, channel: str, default: bool) -> bool:
        pref = prefs.get((user_id, channel))
        if pref is None:
            return default
        return pref.enabled and rank >= SEVERITY_RANK.get(pref.min_severity, 0)

    payload = {"event_id": str(event.id), "kind": kind, "item": event.item_code, "status": event.status}
    for user_id in ids:
        user = users.get(user_id)
        if user is None or not user.is_active:
            continue
        if wants(user_id, "in_app", True):
            created.append(
                Notification(
                    node_path=event.node_path,
                    recipient_id=user_id,
                    channel="in_app",
                    event_id=event.id,
                    kind=kind,
                    title=title,
                    body=body,
                    payload=payload,
                    state="delivered",
                    delivered_at=at,
                    next_attempt_at=at,
                )
            )
        for channel, address in (("email", user.email), ("sms", user.phone)):
            if address and wants(user_id, channel, False):
                created.append(
                    Notification(
                        node_path=event.node_path,
                        recipient_id=user_id,
                        channel=channel,
                        address=address,
                        event_id=event.id,
                        kind=kind,
                        title=title,
                        body=body,
                        payload=payload,
                        state="pending",
                        next_attempt_at=at,
                    )
                )
    for endpoint_id, url in await repo.webhooks_for_path(event.node_path):
        created.append(
            Notification(
                node_path=event.node_path,
                channel="webhook",
                address=url,
                event_id=event.id,
                kind=kind,
                title=title,
                body=body,
                payload=payload | {"endpoint_id": endpoint_id, "title": title, "node_path": event.node_path},
                state="pending",
                next_attempt_at=at,
            )
        )
    for n in created:
        repo.add(n)
    if any(n.state == "pending" for n in created) and get_events_settings().events_enqueue_jobs:
        await session.flush()
        _job_after_commit(session, "events_deliver_notifications", [n.id for n in created if n.state == "pending"])
    return created


async def deliver_pending(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    senders: Senders | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 200,
) -> tuple[int, int]:
    """Send due pending notifications; returns (delivered, failed attempts). Rows are locked while
    sending, so two workers never send the same row; a crash leaves them pending for the next run."""
    now = now or utcnow()
    senders = senders or default_senders()
    repo = EventRepository(session)
    delivered = failed = 0
    for notification in await repo.pending_notifications(now=now, limit=limit, ids=ids):
        secret: str | None = None
        if notification.channel == "webhook":
            endpoint = await repo.webhook(int(notification.payload.get("endpoint_id", 0)))
            secret = endpoint.secret if endpoint is not None and endpoint.active else None
        try:
            await send_one(notification, senders, webhook_secret=secret)
        except DeliveryError as exc:
            record_failure(notification, str(exc), now)
            failed += 1
            continue
        notification.attempts += 1
        notification.state = "delivered"
        notification.delivered_at = now
        notification.last_error = None
        delivered += 1
    return delivered, failed


async def inbox(
    session: AsyncSession, *, actor: Principal, unread_only: bool, before_id: int | None, limit: int
) -> Sequence[Notification]:
    return await EventRepository(session).inbox(
        user_id=actor.id, unread_only=unread_only, before_id=before_id, limit=limit
    )


async def mark_read(session: AsyncSession, *, actor: Principal, notification_id: int) -> Notification:
    notification = await EventRepository(session).notification(notification_id)
    if notification is None or notification.recipient_id != actor.id or notification.channel != "in_app":
        raise NotFound("notification")
    notification.read_at = notification.read_at or utcnow()
    return notification


async def preferences(session: AsyncSession, *, actor: Principal) -> list[dict[str, Any]]:
    stored = await EventRepository(session).preferences([actor.id])
    defaults = {"in_app": True, "email": False, "sms": False}
    out = []
    for channel, default in defaults.items():
        pref = stored.get((actor.id, channel))
        out.append(
            {
                "channel": channel,
                "enabled": pref.enabled if pref else default,
                "min_severity": pref.min_severity if pref else "low",
            }
        )
    return out


async def set_preference(
    session: AsyncSession, *, actor: Principal, channel: str, enabled: bool, min_severity: str
) -> None:
    if actor.kind != "user":
        raise BadRequest("only people have notification preferences", code="not_a_user")
    repo = EventRepository(session)
    pref = await repo.preference(actor.id, channel)
    before = {"enabled": pref.enabled, "min_severity": pref.min_severity} if pref else None
    if pref is None:
        repo.add(NotificationPreference(user_id=actor.id, channel=channel, enabled=enabled, min_severity=min_severity))
    else:
        pref.enabled, pref.min_severity, pref.updated_at = enabled, min_severity, utcnow()
    if actor.grants:
        await audit.record(
            session,
            actor=actor,
            action="notification_preference.set",
            object_type="user",
            object_id=actor.id,
            node_path=actor.grants[0].node_path,
            before=before,
            after={"channel": channel, "enabled": enabled, "min_severity": min_severity},
        )


async def create_webhook(session: AsyncSession, *, actor: Principal, node_id: int, url: str) -> WebhookEndpoint:
    node = await NodeService(session).get_visible(node_id)
    actor.authorize("handlers", "create", node.node_path, what="node")
    await assert_writable(session, node.node_path)
    endpoint = WebhookEndpoint(node_id=node.id, node_path=node.node_path, url=url, secret=new_secret(24))
    EventRepository(session).add(endpoint)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="webhook.create",
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        node_path=node.node_path,
        after={"url": url},
    )
    return endpoint


async def retire_webhook(session: AsyncSession, *, actor: Principal, webhook_id: int) -> WebhookEndpoint:
    """Stop delivering to an endpoint (deliveries still pending fail as "endpoint is gone"); the row
    stays so the notifications sent to it keep their meaning."""
    endpoint = await EventRepository(session).webhook(webhook_id)
    if endpoint is None:
        raise NotFound("webhook")
    actor.authorize("handlers", "delete", endpoint.node_path, what="webhook")
    await assert_writable(session, endpoint.node_path)
    if endpoint.active:
        endpoint.active = False
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="webhook.retire",
            object_type="webhook_endpoint",
            object_id=endpoint.id,
            node_path=endpoint.node_path,
            before={"url": endpoint.url, "active": True},
            after={"active": False},
        )
    return endpoint


# ---------------------------------------------------------------------------------------------
# Dispatch and deadlines
# ---------------------------------------------------------------------------------------------


async def _handler_recipients(repo: EventRepository, event: Event) -> list[uuid.UUID]:
    if event.handler_unit_id is None:
        return []
    return await repo.unit_member_ids(event.handler_unit_id)


async def _dispatch(session: AsyncSession, repo: EventRepository, event: Event, item: Item, at: datetime) -> None:
    route = await repo.route(item=item, node_path=event.node_path)
    if route is None:
        event.status, event.unrouted = "new", True
        event.handler_unit_id = event.handler_name = event.handler_kind = None
        _timeline(repo, event, action="unrouted", actor=None, label="dispatch", at=at, to_status="new")
        return
    from_status = event.status
    event.handler_unit_id, event.handler_name, event.handler_kind = route.handler_unit_id, route.name, route.kind
    event.unrouted = route.unrouted
    event.status = "dispatched"
    event.dispatched_at = at
    _timeline(
        repo,
        event,
        action="dispatched",
        actor=None,
        label="dispatch",
        at=at,
        from_status=from_status,
        to_status="dispatched",
        note=route.name,
        data={"handler_unit_id": route.handler_unit_id, "unrouted": route.unrouted},
    )
    recipients = await _handler_recipients(repo, event)
    if route.unrouted:
        recipients += await repo.users_granted_at(route.node_id)
    await notify(
        session,
        event=event,
        kind="dispatched",
        title=f"新事件：{item.name}",
        body=f"{event.description}".strip() or item.name,
        recipients=recipients,
        at=at,
    )


def _schedule(session: AsyncSession, repo: EventRepository, event: Event, item: Item, base: datetime) -> None:
    event.accept_by = base + timedelta(minutes=item.accept_minutes)
    event.resolve_by = base + timedelta(minutes=item.resolve_minutes)
    for kind, due in (("accept", event.accept_by), ("resolve", event.resolve_by)):
        deadline = Deadline(event_id=event.id, node_path=event.node_path, kind=kind, level=0, due_at=due)
        repo.add(deadline)
        _enqueue_deadline(session, deadline)


def _job_after_commit(
    session: AsyncSession, function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
) -> None:
    """Enqueue once the transaction commits. A failure to reach Redis is logged, not raised: the
    committed rows are the truth and the periodic sweeps pick them up."""
    if not get_events_settings().events_enqueue_jobs:
        return
    from linli.platform.access import after_commit
    from linli.platform.jobs import enqueue_now

    async def _send() -> None:
        try:
            await enqueue_now(function, *args, job_id=job_id, defer_until=defer_until)
        except Exception:
            log.warning("could not enqueue %s%r; the sweep will pick it up", function, args, exc_info=True)

    after_commit(session, _send)


def _enqueue_deadline(session: AsyncSession, deadline: Deadline) -> None:
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


@dataclass
class Intake:
    item_code: str
    node_id: int
    source: str
    description: str = ""
    location: dict[str, Any] | None = None
    external_ref: str | None = None
    reporter_label: str | None = None
    severity: str | None = None
    attrs: dict[str, Any] | None = None


async def create_event(
    session: AsyncSession,
    *,
    actor: Principal | None,
    intake: Intake,
    actor_label: str | None = None,
    now: datetime | None = None,
) -> tuple[Event, bool]:
    """Create and dispatch an event; returns (event, merged). A same-item report at the same place
    within the window merges into the open event instead; a known (source, external_ref) returns the
    existing event unchanged."""
    at = now or utcnow()
    repo = EventRepository(session)
    # The node first: another tenant's node is a 404 whatever else the request gets wrong.
    node = await NodeService(session).get_visible(intake.node_id)
    item = await repo.item(intake.item_code)
    if item is None:
        raise BadRequest(f"unknown event item {intake.item_code!r}", code="unknown_item")
    if actor is not None:
        actor.authorize("events", "create", node.node_path, what="node")
    await assert_writable(session, node.node_path)
    tenant_id = await repo.tenant_for_path(node.node_path)
    location = _clean_location(intake.location or {})
    key = place_key(location)
    lock_keys = [f"events:place:{item.code}:{node.id}:{key}"]
    if intake.external_ref:
        lock_keys.insert(0, f"events:ref:{tenant_id}:{intake.source}:{intake.external_ref}")
    await repo.lock_intake(*lock_keys)
    if intake.external_ref:
        existing = await repo.by_external_ref(
            tenant_id=tenant_id, source=intake.source, external_ref=intake.external_ref
        )
        if existing is not None:
            return existing, True
    label = actor_label or await _actor_label(session, actor, intake.reporter_label or intake.source)
    window = timedelta(minutes=get_events_settings().events_duplicate_window_minutes)
    duplicate = await repo.open_duplicate(item_code=item.code, node_id=node.id, place_key=key, since=at - window)
    if duplicate is not None:
        duplicate.duplicate_count += 1
        if actor is not None and actor.kind == "user" and actor.id != duplicate.reporter_id:
            # A merged reporter follows the event like its first reporter (sees it, hears of progress).
            co = [c for c in duplicate.attrs.get("co_reporters", []) if c != str(actor.id)]
            duplicate.attrs = {**duplicate.attrs, "co_reporters": [*co, str(actor.id)]}
        if intake.external_ref:
            # Remember the merged report's reference so that a replay of it changes nothing.
            refs = duplicate.attrs.get("merged_refs", [])
            duplicate.attrs = {
                **duplicate.attrs,
                "merged_refs": [*refs, merged_ref(intake.source, intake.external_ref)],
            }
        _bump(duplicate, at)
        _timeline(
            repo,
            duplicate,
            action="duplicate",
            actor=actor,
            label=label,
            at=at,
            note=f"also reported by {label}",
            data={"source": intake.source, "external_ref": intake.external_ref, "description": intake.description},
        )
        await audit.record(
            session,
            actor=actor,
            actor_label=label,
            action="event.duplicate",
            object_type="event",
            object_id=duplicate.id,
            node_path=duplicate.node_path,
            after=snapshot(duplicate),
        )
        return duplicate, True
    event = Event(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        node_id=node.id,
        node_path=node.node_path,
        item_code=item.code,
        line_code=item.line_code,
        severity=intake.severity if intake.severity in SEVERITY_RANK else item.severity,
        source=intake.source,
        status="new",
        description=intake.description,
        location=location,
        place_key=key,
        reporter_id=actor.id if actor is not None and actor.kind == "user" else None,
        reporter_label=intake.reporter_label or (None if actor is not None and actor.kind == "user" else label),
        external_ref=intake.external_ref,
        attrs=intake.attrs or {},
        created_at=at,
        updated_at=at,
        version=1,
        duplicate_count=0,
        reopen_count=0,
        escalation_level=0,
        unrouted=False,
    )
    repo.add(event)
    _timeline(repo, event, action="created", actor=actor, label=label, at=at, to_status="new", note=intake.description)
    await session.flush()
    await _dispatch(session, repo, event, item, at)
    _schedule(session, repo, event, item, at)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        actor_label=label,
        action="event.create",
        object_type="event",
        object_id=event.id,
        node_path=event.node_path,
        after=snapshot(event) | {"source": event.source, "node_id": event.node_id},
    )
    return event, False


async def create_from_alarm(session: AsyncSession, *, alarm: iot.AlarmOpened, now: datetime | None = None) -> Event:
    """An opened IoT alarm becomes an event (once per alarm: the alarm id is the external reference)."""
    assert alarm.event_item is not None  # on_alarm_opened only passes alarms whose rule raises an item
    location = dict(alarm.location or {})
    event, _ = await create_event(
        session,
        actor=None,
        actor_label="iot",
        intake=Intake(
            item_code=alarm.event_item,
            node_id=alarm.node_id,
            source="iot_alarm",
            description=f"{alarm.rule_code}: {alarm.value}",
            location={
                k: location[k]
                for k in ("building", "unit", "floor", "space", "room", "lat", "lon", "address")
                if location.get(k) is not None
            },
            external_ref=f"alarm:{alarm.alarm_id}",
            reporter_label=f"device {alarm.device_id}",
            severity=alarm.severity,
            attrs={
                "alarm_id": str(alarm.alarm_id),
                "device_id": str(alarm.device_id),
                "rule_code": alarm.rule_code,
                "value": alarm.value,
                "alarm_ts": alarm.ts.isoformat(),
            },
        ),
        now=now,
    )
    return event


async def on_alarm_opened(session: AsyncSession, alarm: iot.AlarmOpened) -> None:
    """Alarms whose rule names an event item raise that event, in the alarm's own transaction.

    An alarm whose item or node cannot take an event (unknown item, node out of scope, suspended
    tenant) is logged and left as an alarm: these checks fail before anything is written, so the
    IoT transaction that opened the alarm still commits."""
    if not alarm.event_item:
        return
    try:
        await create_from_alarm(session, alarm=alarm)
    except LinliError as exc:
        log.warning("alarm %s raised no event: %s (%s)", alarm.alarm_id, exc.message, exc.code)


def _parse_snapshot(raw: str) -> bytes:
    import base64
    import binascii

    if raw.startswith("data:"):
        raw = raw.split(",", 1)[-1]
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("snapshot must be base64", code="bad_snapshot") from exc


async def ingest_ai_detection(
    session: AsyncSession,
    *,
    actor: Principal,
    detection_id: str,
    detection_type: str,
    confidence: float,
    node_id: int,
    camera_id: str | None,
    location: dict[str, Any],
    snapshot_b64: str | None,
    description: str | None,
    detected_at: datetime | None,
) -> tuple[str, str | None, Event | None]:
    item_code = DETECTION_TYPES.get(detection_type, detection_type)
    if confidence < get_events_settings().events_ai_min_confidence:
        return "ignored", "low_confidence", None
    repo = EventRepository(session)
    if await repo.item(item_code) is None:
        raise BadRequest(f"unknown detection type {detection_type!r}", code="unknown_detection_type")
    image = _parse_snapshot(snapshot_b64) if snapshot_b64 else None
    node = await NodeService(session).get_visible(node_id)
    tenant_id = await repo.tenant_for_path(node.node_path)
    existing = await repo.by_external_ref(tenant_id=tenant_id, source="ai_video", external_ref=detection_id)
    if existing is not None:
        return "existing", None, existing
    event, merged = await create_event(
        session,
        actor=actor,
        intake=Intake(
            item_code=item_code,
            node_id=node_id,
            source="ai_video",
            description=description or f"AI {detection_type} ({confidence:.0%})",
            location=location,
            external_ref=detection_id,
            reporter_label=f"camera {camera_id}" if camera_id else None,
            attrs={"confidence": confidence, "camera_id": camera_id, "detected_at": str(detected_at or "")},
        ),
    )
    if image is not None:
        await add_attachment(session, actor=actor, event_id=event.id, filename="snapshot", data=image)
    return ("merged" if merged else "created"), None, event


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------

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


async def relations(session: AsyncSession, actor: Principal, event: Event) -> set[str]:
    """How the caller relates to the event: reporter, handler (member of the handling unit) or staff."""
    rel: set[str] = set()
    if actor.can("events", "dispatch", event.node_path):
        rel.add("staff")
    if actor.kind == "user" and event.reporter_id == actor.id:
        rel.add("reporter")
    if actor.kind == "user" and event.handler_unit_id is not None:
        covering = {g.role for g in actor.grants_covering(event.node_path)}
        if (
            (event.handler_kind == "property" and "property_manager" in covering)
            or (event.handler_kind == "grid_worker" and "grid_worker" in covering)
            or actor.id in await EventRepository(session).unit_member_ids(event.handler_unit_id)
        ):
            rel.add("handler")
    return rel


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
    # The row lock serialises concurrent transitions: the second claimant re-reads the accepted event.
    event = await get_event(session, actor=actor, event_id=event_id, for_update=True)
    if action not in TRANSITIONS:
        raise BadRequest(f"unknown action {action!r}", code="unknown_action")
    allowed_from, to_status, who = TRANSITIONS[action]
    actor.authorize("events", "read" if action == "comment" else "transition", event.node_path, what="event")
    await assert_writable(session, event.node_path)
    rel = await relations(session, actor, event)
    if not rel & who:
        raise Forbidden(f"only {' or '.join(sorted(who))} may {action} this event", code="transition_not_allowed")
    if version is not None and version != event.version:
        raise Conflict(
            f"the event changed (version {event.version}, you saw {version}); reload it", code="version_conflict"
        )
    if event.status not in allowed_from:
        raise Conflict(f"cannot {action} an event that is {event.status}", code="invalid_transition")
    known = {a.id for a in await repo.attachments(event.id)}
    unknown = [str(a) for a in attachments if a not in known]
    if unknown:
        raise BadRequest(f"attachments not on this event: {', '.join(unknown)}", code="unknown_attachment")
    item = await repo.item(event.item_code)
    assert item is not None
    before = snapshot(event)
    from_status = event.status
    label = await _actor_label(session, actor)
    data: dict[str, Any] = {}

    if action == "accept":
        event.accepted_at = at
        await repo.close_deadlines(event.id, kinds=("accept",), at=at, outcome="met")
    elif action == "start":
        event.started_at = at
    elif action == "resolve":
        if item.evidence_required and not attachments:
            raise BadRequest(
                f"{item.name} needs a photo of the result: upload it and name it in `attachments`",
                code="evidence_required",
            )
        event.resolved_at = at
        await repo.close_deadlines(event.id, kinds=("accept", "resolve"), at=at, outcome="met")
    elif action == "close":
        event.closed_at = at
    elif action == "cancel":
        if not note and "staff" not in rel:
            note = "cancelled by the reporter"
        event.cancelled_at = at
        await repo.close_deadlines(event.id, kinds=("accept", "resolve"), at=at, outcome="cancelled")
    elif action == "reject":
        if not note:
            raise BadRequest("say why the event is rejected in `note`", code="reason_required")
        # Back to dispatch: the community staff decide who handles it instead.
        await _hand_to_community_staff(repo, event)
        event.accepted_at = None
        data["rejected_by_unit"] = before["handler_unit_id"]
    elif action == "dispatch":
        if handler_unit_id is None:
            raise BadRequest("name the unit in `handler_unit_id`", code="handler_unit_required")
        unit = await repo.unit(handler_unit_id)
        if unit is None or not unit.active:
            raise NotFound("handler unit")
        event.handler_unit_id, event.handler_name, event.handler_kind = unit.id, unit.name, unit.kind
        event.unrouted = False
        event.dispatched_at = at
        event.accepted_at = None
        data["handler_unit_id"] = unit.id
    elif action == "reopen":
        if "staff" not in rel:
            window = timedelta(days=get_events_settings().events_reopen_window_days)
            finished = event.closed_at or event.resolved_at or at
            if at - finished > window:
                raise Conflict("the reopen window has passed", code="reopen_window_passed")
        event.reopen_count += 1
        event.accepted_at = event.started_at = event.resolved_at = event.closed_at = None
        await repo.close_deadlines(event.id, kinds=("accept", "resolve"), at=at, outcome="reopened")
        _schedule(session, repo, event, item, at)

    if action in ("reject", "dispatch"):
        # Handed to someone new: they get the item's accept time from now.
        await repo.close_deadlines(event.id, kinds=("accept",), at=at, outcome="redispatched")
        event.accept_by = at + timedelta(minutes=item.accept_minutes)
        deadline = Deadline(
            event_id=event.id, node_path=event.node_path, kind="accept", level=0, due_at=event.accept_by
        )
        repo.add(deadline)
        _enqueue_deadline(session, deadline)
    if to_status is not None:
        event.status = to_status
    _bump(event, at)
    _timeline(
        repo,
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
    await _notify_transition(session, repo, event, action, actor, label, item, at)
    return event


async def _hand_to_community_staff(repo: EventRepository, event: Event) -> None:
    route = await repo.route_to_kind(kind="community_staff", node_path=event.node_path)
    if route is not None:
        event.handler_unit_id, event.handler_name, event.handler_kind = route.handler_unit_id, route.name, route.kind


async def _notify_transition(
    session: AsyncSession,
    repo: EventRepository,
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
        recipients += await _handler_recipients(repo, event)
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
    event = await get_event(session, actor=actor, event_id=event_id)
    if actor.kind == "user" and not await relations(session, actor, event):
        raise Forbidden("only the reporter, the handler or staff add photos", code="attachment_not_allowed")
    if len(data) > get_events_settings().events_max_attachment_bytes:
        raise PayloadTooLarge("the file is larger than the attachment limit", code="attachment_too_large")
    sniffed = sniff_image(data)
    if sniffed is None:
        raise UnsupportedMediaType("only JPEG, PNG and WebP photos are accepted", code="unsupported_image")
    content_type, ext = sniffed
    attachment_id = uuid.uuid4()
    key = f"events/{event.id}/{attachment_id}.{ext}"
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
    repo = EventRepository(session)
    repo.add(attachment)
    at = utcnow()
    _timeline(
        repo,
        event,
        action="attachment",
        actor=actor,
        label=await _actor_label(session, actor),
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
    event = await get_event(session, actor=actor, event_id=event_id, for_update=True)
    actor.authorize("events", "rate", event.node_path, what="event")
    if event.reporter_id is None or event.reporter_id != actor.id:
        raise Forbidden("only the reporter rates an event", code="not_reporter")
    if event.status != "closed":
        raise Conflict("an event is rated once it is closed", code="not_closed")
    repo = EventRepository(session)
    if await repo.rating(event.id) is not None:
        raise Conflict("this event is already rated", code="already_rated")
    rating = Rating(event_id=event.id, node_path=event.node_path, rater_id=actor.id, score=score, comment=comment)
    repo.add(rating)
    at = utcnow()
    _timeline(
        repo,
        event,
        action="rated",
        actor=actor,
        label=await _actor_label(session, actor),
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


# ---------------------------------------------------------------------------------------------
# Deadlines and escalation
# ---------------------------------------------------------------------------------------------


async def _met(event: Event, kind: str) -> bool:
    if event.status in ("resolved", "closed", "cancelled"):
        return True
    return kind == "accept" and event.accepted_at is not None


async def _process_deadline(session: AsyncSession, repo: EventRepository, deadline: Deadline, now: datetime) -> bool:
    """Escalate if the deadline was missed; idempotent: a done deadline is never processed again."""
    if deadline.done_at is not None or deadline.due_at > now:
        return False
    event = await repo.get(deadline.event_id, for_update=True)
    if event is None:
        deadline.done_at, deadline.outcome = now, "gone"
        return False
    if await _met(event, deadline.kind):
        deadline.done_at, deadline.outcome = now, "met"
        return False
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
    before = snapshot(event)
    event.escalation_level += 1
    event.escalation_node_id = parent.id
    _bump(event, now)
    item = await repo.item(event.item_code)
    assert item is not None
    what = "accepted" if deadline.kind == "accept" else "resolved"
    _timeline(
        repo,
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
    repo.add(following)
    await session.flush()
    _enqueue_deadline(session, following)
    recipients = await repo.users_granted_at(parent.id)
    for kind in HANDLER_KINDS:
        unit_at = await repo.unit_at(node_id=parent.id, kind=kind)
        if unit_at is not None:
            recipients += await repo.unit_member_ids(unit_at.id)
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
    repo = EventRepository(session)
    escalated = 0
    for deadline in await repo.due_deadlines(now=now, limit=limit):
        escalated += await _process_deadline(session, repo, deadline, now)
    return escalated


async def fire_deadline(session: AsyncSession, *, deadline_id: int, now: datetime | None = None) -> bool:
    repo = EventRepository(session)
    deadline = await repo.deadline(deadline_id)
    if deadline is None:
        return False
    return await _process_deadline(session, repo, deadline, now or utcnow())


# ---------------------------------------------------------------------------------------------
# KPIs
# ---------------------------------------------------------------------------------------------


async def kpis(
    session: AsyncSession, *, actor: Principal, node_id: int | None, since: datetime, until: datetime
) -> dict[str, Any]:
    node = await NodeService(session).get_visible(actor.home_node_id() if node_id is None else node_id)
    actor.authorize("kpis", "read", node.node_path, what="node")
    repo = EventRepository(session)
    out = await repo.kpis(path=node.node_path, since=since, until=until)
    groups: dict[str, dict[str, int]] = {"item": {}, "source": {}, "status": {}}
    for dimension, key, count in await repo.counts(path=node.node_path, since=since, until=until):
        groups[dimension][key] = count
    return out | {
        "node_id": node.id,
        "node_path": node.node_path,
        "since": since,
        "until": until,
        "by_item": groups["item"],
        "by_source": groups["source"],
        "by_status": groups["status"],
    }


# ---------------------------------------------------------------------------------------------
# Handler units and routing
# ---------------------------------------------------------------------------------------------


async def create_unit(
    session: AsyncSession, *, actor: Principal | None, node_id: int, kind: str, name: str, contact: dict[str, Any]
) -> HandlerUnit:
    node = await NodeService(session).get_visible(node_id)
    if actor is not None:
        actor.authorize("handlers", "create", node.node_path, what="node")
        await assert_writable(session, node.node_path)
    if kind not in HANDLER_KINDS:
        raise BadRequest(f"unknown handler kind {kind!r}", code="unknown_handler_kind")
    unit = HandlerUnit(node_id=node.id, node_path=node.node_path, kind=kind, name=name, contact=contact, active=True)
    repo = EventRepository(session)
    repo.add(unit)
    try:
        async with session.begin_nested():
            await session.flush()
    except Exception as exc:  # unique (node, kind, name)
        raise Conflict(f"{name} already exists here", code="handler_unit_exists") from exc
    await audit.record(
        session,
        actor=actor,
        action="handler_unit.create",
        object_type="handler_unit",
        object_id=unit.id,
        node_path=node.node_path,
        after={"kind": kind, "name": name},
    )
    return unit


async def update_unit(
    session: AsyncSession,
    *,
    actor: Principal,
    unit_id: int,
    name: str | None,
    contact: dict[str, Any] | None,
    active: bool | None,
) -> HandlerUnit:
    repo = EventRepository(session)
    unit = await repo.unit(unit_id)
    if unit is None:
        raise NotFound("handler unit")
    actor.authorize("handlers", "update", unit.node_path, what="handler unit")
    await assert_writable(session, unit.node_path)
    before = {"name": unit.name, "contact": unit.contact, "active": unit.active}
    if name is not None:
        unit.name = name
    if contact is not None:
        unit.contact = contact
    if active is not None:
        unit.active = active
    await audit.record(
        session,
        actor=actor,
        action="handler_unit.update",
        object_type="handler_unit",
        object_id=unit.id,
        node_path=unit.node_path,
        before=before,
        after={"name": unit.name, "contact": unit.contact, "active": unit.active},
    )
    return unit


async def add_member(
    session: AsyncSession, *, actor: Principal | None, unit_id: int, user_id: uuid.UUID
) -> HandlerUnitMember:
    repo = EventRepository(session)
    unit = await repo.unit(unit_id)
    if unit is None:
        raise NotFound("handler unit")
    if actor is not None:
        actor.authorize("handlers", "update", unit.node_path, what="handler unit")
        await assert_writable(session, unit.node_path)
    if await UserRepository(session).get(user_id) is None:
        raise NotFound("user")
    existing = await repo.member(unit.id, user_id)
    if existing is not None:
        return existing
    member = HandlerUnitMember(handler_unit_id=unit.id, user_id=user_id, node_path=unit.node_path)
    repo.add(member)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="handler_unit.add_member",
        object_type="handler_unit",
        object_id=unit.id,
        node_path=unit.node_path,
        after={"user_id": str(user_id)},
    )
    return member


async def create_rule(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_id: int,
    item: str | None,
    line: str | None,
    handler_unit_id: int,
    priority: int,
) -> RoutingRule:
    node = await NodeService(session).get_visible(node_id)
    if actor is not None:
        actor.authorize("routing", "create", node.node_path, what="node")
    repo = EventRepository(session)
    unit = await repo.unit(handler_unit_id)
    if unit is None:
        raise NotFound("handler unit")
    if item is not None and await repo.item(item) is None:
        raise BadRequest(f"unknown event item {item!r}", code="unknown_item")
    if line is not None:
        known = await session.scalar(text("select 1 from event_lines where code = :c"), {"c": line})
        if known is None:
            raise BadRequest(f"unknown event line {line!r}", code="unknown_line")
    rule = RoutingRule(
        node_id=node.id,
        node_path=node.node_path,
        item_code=item,
        line_code=line,
        handler_unit_id=unit.id,
        priority=priority,
    )
    repo.add(rule)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="routing_rule.create",
        object_type="routing_rule",
        object_id=rule.id,
        node_path=node.node_path,
        after={"item": item, "line": line, "handler_unit_id": unit.id, "priority": priority},
    )
    return rule


async def delete_rule(session: AsyncSession, *, actor: Principal, rule_id: int) -> None:
    repo = EventRepository(session)
    rule = await repo.rule(rule_id)
    if rule is None:
        raise NotFound("routing rule")
    actor.authorize("routing", "delete", rule.node_path, what="routing rule")
    await assert_writable(session, rule.node_path)
    await audit.record(
        session,
        actor=actor,
        action="routing_rule.delete",
        object_type="routing_rule",
        object_id=rule.id,
        node_path=rule.node_path,
        before={"item": rule.item_code, "line": rule.line_code, "handler_unit_id": rule.handler_unit_id},
    )
    await repo.delete(rule)


# Default units every tenant gets (name suffix by level); property companies are per estate and added
# when the estate's company is known (the demo adds one per estate).
DEFAULT_UNITS_SQL = """
insert into handler_units (node_id, node_path, kind, name)
select n.id, n.node_path, d.kind, n.name || d.suffix
from nodes n join (values
  ('community', 'community_staff', '工作站'),
  ('community', 'mediation', '人民调解委员会'),
  ('community', 'social_worker', '社工站'),
  ('grid', 'grid_worker', '网格员'),
  ('street', 'urban_mgmt', '城管执法中队'),
  ('street', 'street_office', '便民服务中心'),
  ('street', 'police', '派出所'),
  ('street', 'fire', '消防救援站'),
  ('street', 'medical', '社区卫生服务中心（120联动）'),
  ('street', 'maintenance', '维保单位')
) as d(level, kind, suffix) on d.level = n.level
where n.node_path <@ text2ltree(:root) and n.archived_at is null
on conflict (node_id, kind, name) do nothing
"""
# A community tenant has no street inside it: its street-level teams are attached to the community.
COMMUNITY_TENANT_STREET_UNITS_SQL = """
insert into handler_units (node_id, node_path, kind, name)
select c.id, c.node_path, d.kind, s.name || d.suffix
from nodes c join nodes s on s.id = c.parent_id
cross join (values
  ('urban_mgmt', '城管执法中队'), ('street_office', '便民服务中心'), ('police', '派出所'),
  ('fire', '消防救援站'), ('medical', '社区卫生服务中心（120联动）'), ('maintenance', '维保单位')
) as d(kind, suffix)
where c.id = :node_id and c.level = 'community'
on conflict (node_id, kind, name) do nothing
"""


async def ensure_default_units(session: AsyncSession, tenant: Tenant) -> None:
    """Onboarding hook: the tenant's default handler units (idempotent)."""
    await session.execute(text(DEFAULT_UNITS_SQL), {"root": tenant.node_path})
    await session.execute(text(COMMUNITY_TENANT_STREET_UNITS_SQL), {"node_id": tenant.node_id})


if ensure_default_units not in ONBOARDING_HOOKS:
    ONBOARDING_HOOKS.append(ensure_default_units)


iot.ALARM_OPENED_HANDLERS.append(on_alarm_opened)
