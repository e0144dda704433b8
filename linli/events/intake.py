"""How events come in: reports, IoT alarms, signed AI detections; a duplicate merges into the open
event, a replayed external reference returns the event it made."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.config import get_events_settings
from linli.events.deadlines import schedule_deadlines
from linli.events.lifecycle import store_attachment
from linli.events.models import Event
from linli.events.records import SEVERITY_RANK, add_timeline, bump, label_of, raised_by, snapshot, utcnow
from linli.events.repositories import CatalogRepository, EventRepository, Item, merged_ref
from linli.events.routing import dispatch
from linli.iot import service as iot
from linli.platform import audit, metrics
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import BadRequest, Forbidden, LinliError, Unauthenticated
from linli.platform.hierarchy.service import NodeService
from linli.platform.security import constant_time_equals, hmac_sha256_hex
from linli.platform.sources import SIGNED_SOURCES, SYSTEM_SOURCES
from linli.tenants.grants import signing_secret

log = logging.getLogger(__name__)


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


def source_for(actor: Principal, requested: str | None) -> str:
    """The source of an intake through the API: an API key raises events as the source it was created
    for; residents report as residents; staff and keys without a source may name any non-system source."""
    if actor.kind == "api_key" and (key_source := actor.extra.get("api_key_source")):
        if key_source in SIGNED_SOURCES:
            raise Forbidden(f"{key_source} keys send signed requests to their own endpoint", code="source_not_allowed")
        if requested not in (None, key_source):
            raise Forbidden(f"this key raises events as {key_source}", code="source_not_allowed")
        return str(key_source)
    if actor.kind == "user" and actor.is_only("resident"):
        if requested not in (None, "resident_report"):
            raise Forbidden("residents report events as resident_report", code="source_not_allowed")
        return "resident_report"
    source = requested or ("upstream" if actor.kind == "api_key" else "staff_patrol")
    if source in SYSTEM_SOURCES:
        raise Forbidden(
            f"{source} events come only from the platform or a key created for it", code="source_not_allowed"
        )
    return source


def check_source(actor: Principal | None, source: str, item: Item) -> None:
    """A system source only from the platform (no actor) or a key created for it; an item only from the
    sources the taxonomy lists for it."""
    if source in SYSTEM_SOURCES and actor is not None and actor.extra.get("api_key_source") != source:
        raise Forbidden(
            f"{source} events come only from the platform or a key created for it", code="source_not_allowed"
        )
    if source not in item.sources:
        raise BadRequest(
            f"{item.code} is raised only as {', '.join(item.sources)}, not {source}", code="item_not_allowed_for_source"
        )


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
    # False for what is one person's own matter (a form case), never "the same thing at the same place".
    merge_duplicates: bool = True


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
    item = await CatalogRepository(session).item(intake.item_code)
    if item is None:
        raise BadRequest(f"unknown event item {intake.item_code!r}", code="unknown_item")
    await access_object(session, actor, node, permission=Permission("events", "create"), what="node")
    check_source(actor, intake.source, item)
    sender = raised_by(actor)
    tenant_id = await repo.tenant_for_path(node.node_path)
    location = _clean_location(intake.location or {})
    key = place_key(location)
    lock_keys = [f"events:place:{item.code}:{node.id}:{key}"]
    if intake.external_ref:
        lock_keys.insert(0, f"events:ref:{tenant_id}:{intake.source}:{sender}:{intake.external_ref}")
    await repo.lock_intake(*lock_keys)
    if intake.external_ref:
        existing = await repo.by_external_ref(
            tenant_id=tenant_id, source=intake.source, raised_by=sender, external_ref=intake.external_ref
        )
        if existing is not None:
            return existing, True
    label = actor_label or await label_of(session, actor, intake.reporter_label or intake.source)
    window = timedelta(minutes=get_events_settings().events_duplicate_window_minutes)
    duplicate = (
        await repo.open_duplicate(item_code=item.code, node_id=node.id, place_key=key, since=at - window)
        if intake.merge_duplicates
        else None
    )
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
                "merged_refs": [*refs, merged_ref(intake.source, sender, intake.external_ref)],
            }
        bump(duplicate, at)
        add_timeline(
            session,
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
        raised_by=sender,
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
    add_timeline(
        session, event, action="created", actor=actor, label=label, at=at, to_status="new", note=intake.description
    )
    await session.flush()
    await dispatch(session, event, item, at)
    schedule_deadlines(session, event, item, at)
    metrics.EVENTS_CREATED.labels(event.source).inc()
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


# What other domains know about an alarm's device (a cared-for person wearing the SOS band): each returns
# attributes to attach to the event, with an optional "description"; connected in `linli.wiring`.
AlarmContext = Callable[[AsyncSession, iot.AlarmOpened], Awaitable[dict[str, Any]]]
ALARM_CONTEXT: list[AlarmContext] = []


async def create_from_alarm(session: AsyncSession, *, alarm: iot.AlarmOpened, now: datetime | None = None) -> Event:
    """An opened IoT alarm becomes an event (once per alarm: the alarm id is the external reference)."""
    assert alarm.event_item is not None  # on_alarm_opened only passes alarms whose rule raises an item
    location = dict(alarm.location or {})
    context: dict[str, Any] = {}
    for provider in ALARM_CONTEXT:
        context |= await provider(session, alarm)
    description = f"{alarm.rule_code}: {alarm.value}"
    if context.get("description"):
        description = f"{context.pop('description')} · {description}"
    event, _ = await create_event(
        session,
        actor=None,
        actor_label="iot",
        intake=Intake(
            item_code=alarm.event_item,
            node_id=alarm.node_id,
            source="iot_alarm",
            description=description,
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
                **context,
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


# How far a signed request's timestamp may be from the server's clock; a signature is accepted once.
SIGNATURE_WINDOW = timedelta(minutes=5)


def detection_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac_sha256_hex(secret, timestamp.encode() + b"." + body)


async def verify_detection_signature(
    session: AsyncSession,
    *,
    key_id: uuid.UUID,
    timestamp: str,
    signature: str,
    body: bytes,
    now: datetime | None = None,
) -> None:
    """The key's signing secret signed `<timestamp>.<body>`, the timestamp is within ±5 minutes, and the
    signature was not used before (replays inside the window are refused)."""
    now = now or utcnow()
    try:
        signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise Unauthenticated(
            "X-Linli-Timestamp must be the signing time in Unix seconds", code="bad_timestamp"
        ) from exc
    if abs(now - signed_at) > SIGNATURE_WINDOW:
        raise Unauthenticated("the request was signed more than 5 minutes from now", code="stale_timestamp")
    secret = await signing_secret(session, key_id=key_id)
    expected = detection_signature(secret, timestamp, body) if secret else None
    if expected is None or not constant_time_equals(signature.removeprefix("sha256="), expected):
        raise Unauthenticated("missing or wrong body signature", code="bad_signature")
    if not await EventRepository(session).claim_signature(
        key_id=key_id, signature=expected, expires_at=signed_at + SIGNATURE_WINDOW
    ):
        raise Unauthenticated("this signature was already used", code="replayed_signature")


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
    if await CatalogRepository(session).item(item_code) is None:
        raise BadRequest(f"unknown detection type {detection_type!r}", code="unknown_detection_type")
    image = _parse_snapshot(snapshot_b64) if snapshot_b64 else None
    node = await NodeService(session).get_visible(node_id)
    tenant_id = await repo.tenant_for_path(node.node_path)
    existing = await repo.by_external_ref(
        tenant_id=tenant_id, source="ai_video", raised_by=raised_by(actor), external_ref=detection_id
    )
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
        await store_attachment(session, actor=actor, event=event, filename="snapshot", data=image)
    return ("merged" if merged else "created"), None, event
