from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree

# The kinds are defined once, as the type the schemas use; the tuple derives from it (the sources are the
# kernel's, `linli.platform.sources`).
HandlerKind = Literal[
    "property",
    "grid_worker",
    "community_staff",
    "urban_mgmt",
    "police",
    "fire",
    "medical",
    "maintenance",
    "mediation",
    "social_worker",
    "street_office",
]
HANDLER_KINDS: tuple[HandlerKind, ...] = get_args(HandlerKind)
OPEN_STATUSES = ("new", "dispatched", "accepted", "in_progress")
TERMINAL_STATUSES = ("resolved", "closed", "cancelled")
# Units whose events a role handles without being a member: a property manager handles the property
# company's events where he is granted, a grid worker the grid's.
HANDLING_ROLES: dict[str, str] = {"property": "property_manager", "grid_worker": "grid_worker"}


class HandlerUnit(IdMixin, TimestampMixin, Base):
    __tablename__ = "handler_units"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    contact: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class HandlerUnitMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "handler_unit_members"

    handler_unit_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("handler_units.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    node_path: Mapped[str] = mapped_column(Ltree)


class RoutingRule(IdMixin, TimestampMixin, Base):
    __tablename__ = "routing_rules"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    item_code: Mapped[str | None] = mapped_column(String(64))
    line_code: Mapped[str | None] = mapped_column(String(64))
    handler_unit_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("handler_units.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer, default=0)


class Event(TimestampMixin, Base):
    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, server_default=func.gen_random_uuid())
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    item_code: Mapped[str] = mapped_column(String(64))
    line_code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    place_key: Mapped[str] = mapped_column(Text, default="")
    reporter_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("users.id"))
    reporter_label: Mapped[str | None] = mapped_column(Text)
    handler_unit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("handler_units.id"))
    handler_name: Mapped[str | None] = mapped_column(Text)
    handler_kind: Mapped[str | None] = mapped_column(String(32))
    # The person who accepted it (while it is with the unit that accepted it).
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("users.id"))
    unrouted: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalation_node_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    accept_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    external_ref: Mapped[str | None] = mapped_column(Text)
    # Who raised it (`system`, `api_key:<id>`, `user:<id>`): external references are unique per sender.
    raised_by: Mapped[str] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1)

    def overdue(self, at: datetime) -> bool:
        """Open and past a deadline: not accepted by `accept_by`, or not resolved by `resolve_by` (the
        repositories' `overdue` condition says the same in SQL)."""
        if self.status not in OPEN_STATUSES:
            return False
        late_accept = self.accepted_at is None and self.accept_by is not None and self.accept_by < at
        return late_accept or (self.resolve_by is not None and self.resolve_by < at)


class EventAttachment(TimestampMixin, Base):
    __tablename__ = "event_attachments"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, server_default=func.gen_random_uuid())
    event_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("events.id", ondelete="CASCADE"))
    node_path: Mapped[str] = mapped_column(Ltree)
    storage_key: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str | None] = mapped_column(Text)


class TimelineEntry(IdMixin, Base):
    __tablename__ = "event_timeline"

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("events.id", ondelete="CASCADE"))
    node_path: Mapped[str] = mapped_column(Ltree)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[str | None] = mapped_column(Text)
    actor_label: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID), default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Rating(IdMixin, TimestampMixin, Base):
    __tablename__ = "event_ratings"

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    node_path: Mapped[str] = mapped_column(Ltree)
    rater_id: Mapped[uuid.UUID] = mapped_column(UUID)
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)


class Deadline(IdMixin, TimestampMixin, Base):
    __tablename__ = "event_deadlines"

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("events.id", ondelete="CASCADE"))
    node_path: Mapped[str] = mapped_column(Ltree)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(16))


class Notification(IdMixin, TimestampMixin, Base):
    __tablename__ = "notifications"

    node_path: Mapped[str] = mapped_column(Ltree)
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    min_severity: Mapped[str] = mapped_column(String(16), default="low")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_endpoints"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
