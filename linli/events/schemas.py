from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from linli.events.models import Event, HandlerKind
from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id
from linli.platform.sources import Source

Action = Literal["accept", "start", "resolve", "close", "reject", "cancel", "reopen", "dispatch", "comment"]
# What a caller may be offered on an event: the transitions, rating it and adding a photo.
AllowedAction = Literal[
    "accept", "start", "resolve", "close", "reject", "cancel", "reopen", "dispatch", "comment", "rate", "attach"
]


class Location(Strict):
    """Inside an estate (building / unit / floor) or a map point; both may be given."""

    building: str | None = Field(default=None, max_length=50)
    unit: str | None = Field(default=None, max_length=50)
    floor: str | None = Field(default=None, max_length=20)
    room: str | None = Field(default=None, max_length=20)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _point_complete(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class EventCreate(Strict):
    item: str = Field(min_length=1, max_length=64, description="event item code from the taxonomy")
    description: str = Field(default="", max_length=2000)
    node_id: Id
    location: Location = Field(default_factory=Location)
    source: Source | None = Field(default=None, description="staff and integrations only; residents report")
    external_ref: str | None = Field(default=None, max_length=200, description="caller's id, for idempotency")
    reporter_label: str | None = Field(default=None, max_length=100, description="e.g. the hotline caller")


class HandlerOut(BaseModel):
    unit_id: Id | None
    name: str | None
    kind: str | None
    unrouted: bool


class EventOut(BaseModel):
    id: uuid.UUID
    node_id: Id
    node_path: str
    tenant_id: Id | None
    item: str
    line: str
    severity: str
    source: str
    status: str
    description: str
    location: dict[str, Any]
    reporter_id: uuid.UUID | None
    reporter_label: str | None
    handler: HandlerOut
    assignee_id: uuid.UUID | None = Field(description="who accepted it, while it is being handled")
    escalation_level: int
    escalation_node_id: Id | None
    accept_by: datetime | None
    resolve_by: datetime | None
    duplicate_count: int
    reopen_count: int
    external_ref: str | None
    created_at: datetime
    dispatched_at: datetime | None
    accepted_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    updated_at: datetime
    overdue: bool = Field(description="open and past its accept or resolve deadline now")
    version: int
    merged: bool = False

    @classmethod
    def of(cls, event: Event, *, merged: bool = False) -> EventOut:
        return cls(
            id=event.id,
            node_id=event.node_id,
            node_path=event.node_path,
            tenant_id=event.tenant_id,
            item=event.item_code,
            line=event.line_code,
            severity=event.severity,
            source=event.source,
            status=event.status,
            description=event.description,
            location=event.location,
            reporter_id=event.reporter_id,
            reporter_label=event.reporter_label,
            handler=HandlerOut(
                unit_id=event.handler_unit_id,
                name=event.handler_name,
                kind=event.handler_kind,
                unrouted=event.unrouted,
            ),
            assignee_id=event.assignee_id,
            escalation_level=event.escalation_level,
            escalation_node_id=event.escalation_node_id,
            accept_by=event.accept_by,
            resolve_by=event.resolve_by,
            duplicate_count=event.duplicate_count,
            reopen_count=event.reopen_count,
            external_ref=event.external_ref,
            created_at=event.created_at,
            dispatched_at=event.dispatched_at,
            accepted_at=event.accepted_at,
            started_at=event.started_at,
            resolved_at=event.resolved_at,
            closed_at=event.closed_at,
            cancelled_at=event.cancelled_at,
            updated_at=event.updated_at,
            overdue=event.overdue(datetime.now(UTC)),
            version=event.version,
            merged=merged,
        )


class EventRow(EventOut):
    """An event as lists show it: with the name of its place."""

    node_name: str = Field(description="the name of the event's node")


class EventCounts(BaseModel):
    """How many events a list with the same filters holds."""

    total: int
    overdue: int = Field(description="open and past a deadline now")
    by_status: dict[str, int]


class TransitionIn(Strict):
    action: Action
    note: str | None = Field(default=None, max_length=2000)
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    handler_unit_id: Id | None = Field(default=None, description="for `dispatch`: the unit to hand the event to")
    version: int | None = Field(default=None, description="optimistic lock: the version you saw")


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_id: str | None
    actor_label: str | None
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    attachments: list[uuid.UUID]
    data: dict[str, Any]


class DeadlineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: Literal["accept", "resolve"]
    level: int = Field(description="0 at the event's own handler; each escalation adds one")
    due_at: datetime
    done_at: datetime | None
    outcome: str | None = Field(description="met, escalated, cancelled, redispatched, reopened or top")


class DuplicateReportOut(BaseModel):
    """A report merged into the event ("also reported by")."""

    at: datetime
    reporter_label: str | None
    source: str | None
    description: str | None

    @classmethod
    def of(cls, entry: TimelineOut) -> DuplicateReportOut:
        return cls(
            at=entry.at,
            reporter_label=entry.actor_label,
            source=entry.data.get("source"),
            description=entry.data.get("description"),
        )


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    event_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class RatingIn(Strict):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)
    reopen: bool = Field(default=False, description="with a low score: reopen the event")


class RatingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    event_id: uuid.UUID
    score: int
    comment: str | None
    created_at: datetime
    reopened: bool = False


class EventDetailOut(EventRow):
    timeline: list[TimelineOut]
    allowed_actions: list[AllowedAction] = Field(description="what the caller may do now")
    evidence_required: bool = Field(description="resolving needs a photo of the result among `attachments`")
    escalation_node_name: str | None = Field(description="where it was escalated to, if the caller may see it")
    deadlines: list[DeadlineOut]
    also_reported_by: list[DuplicateReportOut]
    rating: RatingOut | None


class AiDetectionIn(Strict):
    detection_id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=64, description="detection type or an event item code")
    confidence: float = Field(ge=0, le=1)
    node_id: Id
    camera_id: str | None = Field(default=None, max_length=100)
    location: Location = Field(default_factory=Location)
    detected_at: datetime | None = None
    snapshot: str | None = Field(default=None, description="base64 JPEG/PNG/WebP", max_length=8_000_000)
    description: str | None = Field(default=None, max_length=2000)


class AiDetectionOut(BaseModel):
    status: Literal["created", "merged", "existing", "ignored"]
    reason: str | None = None
    event: EventOut | None = None


class EventItemOut(BaseModel):
    code: str
    name: str
    name_en: str
    handler: str
    severity: str
    accept_minutes: int
    resolve_minutes: int
    evidence_required: bool = Field(description="resolving needs a photo of the result")
    sources: list[str]


class EventLineOut(BaseModel):
    code: str
    name: str
    name_en: str
    items: list[EventItemOut]


class EventKpis(BaseModel):
    """The columns of the SQL function `linli_event_kpis` (the API and the dashboards share it)."""

    total: int
    open: int
    resolved: int
    cancelled: int
    avg_accept_s: float | None
    p90_accept_s: float | None
    avg_resolve_s: float | None
    p90_resolve_s: float | None
    on_time_rate: float | None
    resolution_rate: float | None
    ratings: int
    avg_rating: float | None
    satisfaction_rate: float | None


class KpiOut(EventKpis):
    node_id: Id
    node_path: str
    since: datetime = Field(serialization_alias="from")
    until: datetime = Field(serialization_alias="to")
    by_item: dict[str, int]
    by_source: dict[str, int]
    by_status: dict[str, int]


class HandlerUnitCreate(Strict):
    node_id: Id
    kind: HandlerKind
    name: str = Field(min_length=1, max_length=100)
    contact: dict[str, Any] = Field(default_factory=dict)


class HandlerUnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    node_id: Id
    node_path: str
    kind: str
    name: str
    contact: dict[str, Any]
    active: bool


class HandlerUnitUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    contact: dict[str, Any] | None = None
    active: StrictBool | None = Field(default=None, description="inactive units receive no new events")


class MemberCreate(Strict):
    user_id: uuid.UUID


class RoutingRuleCreate(Strict):
    node_id: Id
    item: str | None = Field(default=None, max_length=64)
    line: str | None = Field(default=None, max_length=64)
    handler_unit_id: Id
    priority: int = 0

    @model_validator(mode="after")
    def _item_or_line(self) -> RoutingRuleCreate:
        if (self.item is None) == (self.line is None):
            raise ValueError("give exactly one of item or line")
        return self


class RoutingRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    node_id: Id
    node_path: str
    item_code: str | None
    line_code: str | None
    handler_unit_id: Id
    priority: int


class RoutingTestOut(BaseModel):
    routed: bool = Field(description="false when no unit would receive it")
    handler_unit_id: Id | None = None
    name: str | None = None
    kind: str | None = None
    node_id: Id | None = None
    unrouted: bool = Field(False, description="only the fallback unit (community staff) would receive it")
    member_ids: list[uuid.UUID] = []


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    title: str
    body: str
    event_id: uuid.UUID | None
    created_at: datetime
    read_at: datetime | None


class PreferenceIn(Strict):
    channel: Literal["in_app", "email", "sms"]
    enabled: bool
    min_severity: Literal["low", "medium", "high", "critical"] = "low"


class PreferenceOut(BaseModel):
    channel: str
    enabled: bool
    min_severity: str


class WebhookCreate(Strict):
    node_id: Id
    url: str = Field(pattern=r"^https?://", max_length=500)


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    node_id: Id
    node_path: str
    url: str
    active: bool
    created_at: datetime


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    event_id: uuid.UUID | None
    kind: str
    state: str = Field(description="pending (with next_attempt_at), delivered, or failed (with last_error)")
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="signs every delivery; shown only in this answer")
