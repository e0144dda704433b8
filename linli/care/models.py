from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, String, Text, Time, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree


class CareProfile(Base):
    """A person's watch settings: their own not-seen window, quiet hours (local time), family contacts."""

    __tablename__ = "care_profiles"

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id"), primary_key=True)
    node_path: Mapped[str] = mapped_column(Ltree)
    not_seen_hours: Mapped[int | None] = mapped_column(Integer)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    family_contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CareSensor(IdMixin, TimestampMixin, Base):
    """A device of the person's household linked to them, with what it tells (door, water, …)."""

    __tablename__ = "care_sensors"

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id"))
    device_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("devices.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    role: Mapped[str] = mapped_column(String(16))


class CareAway(IdMixin, TimestampMixin, Base):
    """A period the person is known to be away (hospital, travel): no not-seen alert during it."""

    __tablename__ = "care_away"

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    reason: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")


class CareAlert(IdMixin, Base):
    """One open not-seen alert per person at most (a unique partial index); activity clears it."""

    __tablename__ = "care_alerts"

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    silent_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("events.id"))


class CareVisit(IdMixin, TimestampMixin, Base):
    """A scheduled visit: at most one open per person; done with a note, a photo and the time."""

    __tablename__ = "care_visits"

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), default="open")
    visited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    photo_key: Mapped[str | None] = mapped_column(Text)
    photo_content_type: Mapped[str | None] = mapped_column(String(32))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
