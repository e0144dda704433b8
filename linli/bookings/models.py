from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, Time, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin
from linli.platform.hierarchy.models import Ltree

KINDS = ("room", "court", "parking", "day_care")


class Resource(IdMixin, Base):
    """Something residents under its node book by the slot, within its opening hours (local time)."""

    __tablename__ = "resources"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    weekly_limit: Mapped[int | None] = mapped_column(Integer)
    cancel_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Booking(IdMixin, Base):
    """A resident's slot (at their estate's path); live bookings of a resource never overlap (an
    exclusion constraint)."""

    __tablename__ = "bookings"

    resource_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("resources.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="booked")
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
