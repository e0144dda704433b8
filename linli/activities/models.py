from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin
from linli.platform.hierarchy.models import Ltree


class Activity(IdMixin, Base):
    """An activity or volunteer shift of a `signup` service, open to the residents under its node.
    `taken` counts confirmed places; `queue_seq` numbers sign-ups as they take the row's lock."""

    __tablename__ = "activities"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signup_deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    queue_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    volunteer_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal(0))
    status: Mapped[str] = mapped_column(String(16), default="open")
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Signup(IdMixin, Base):
    """A resident's place (or place in the queue) at an activity; at the resident's estate path."""

    __tablename__ = "activity_signups"

    activity_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("activities.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(BigInteger)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hours: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
