from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree

JOIN_STATUSES = ("pending", "approved", "rejected")
NOTICE_STATUSES = ("draft", "published", "withdrawn")
CASE_OPEN_STATUSES = ("submitted", "more_info")
CASE_STATUSES = (*CASE_OPEN_STATUSES, "approved", "rejected")


class JoinRequest(IdMixin, TimestampMixin, Base):
    """Someone whose phone the registry does not know asks to live at a place of an estate; staff decide.
    Scoped by the estate's path."""

    __tablename__ = "join_requests"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    location_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("locations.id"))
    phone: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    room: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    household_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("households.id"))
    person_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("users.id"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notice(IdMixin, TimestampMixin, Base):
    """A notice of an `info` service, for the residents of a node's subtree (`node_path` is its target)."""

    __tablename__ = "notices"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    title: Mapped[str] = mapped_column(Text)
    body_md: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    publish_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    publish_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1)


class NoticeRead(Base):
    """A read receipt: who read a notice when; scoped by the node of the reader's grant."""

    __tablename__ = "notice_reads"

    notice_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    node_path: Mapped[str] = mapped_column(Ltree)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FormDefinition(IdMixin, TimestampMixin, Base):
    """A tenant's own fields for one of its `form` services (without one, the shipped default applies)."""

    __tablename__ = "form_definitions"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FormCase(IdMixin, TimestampMixin, Base):
    """A resident's submission of a form: staff approve, reject or ask for more; the resident amends.
    Identity numbers in `values` are stored encrypted; `fields` is the definition it was submitted under."""

    __tablename__ = "form_cases"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    applicant_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    values: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("events.id"))
    # The deadlines the event item promised when the case was submitted (without an item: none).
    accept_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1)


class FormCaseEntry(IdMixin, Base):
    """The case's timeline: submitted, asked for more, amended, approved, rejected."""

    __tablename__ = "form_case_entries"

    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("form_cases.id", ondelete="CASCADE"))
    node_path: Mapped[str] = mapped_column(Ltree)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[str | None] = mapped_column(Text)
    actor_label: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class AppFile(TimestampMixin, Base):
    """A photo uploaded in the app (metadata stripped): an image of a notice, or a photo field of a form
    case (uploaded before the case exists, attached when it is submitted)."""

    __tablename__ = "app_files"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, server_default=func.gen_random_uuid())
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    notice_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("notices.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("form_cases.id", ondelete="CASCADE"))
    uploaded_by: Mapped[uuid.UUID] = mapped_column(UUID)
    storage_key: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
