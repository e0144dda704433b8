from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin
from linli.platform.hierarchy.models import Ltree


class PatrolPlan(IdMixin, Base):
    """Who walks which checkpoints when: `schedule` is {"weekdays": [0..6] (Monday 0; all when empty),
    "hours": [0..23]}, in the deployment's time zone; a round must be done within `window_minutes`."""

    __tablename__ = "patrol_plans"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    name: Mapped[str] = mapped_column(Text)
    assignee_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    window_minutes: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PatrolCheckpoint(IdMixin, Base):
    __tablename__ = "patrol_checkpoints"

    plan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("patrol_plans.id"))
    position: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    location_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("locations.id"))
    name: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(32))


class PatrolRound(IdMixin, Base):
    __tablename__ = "patrol_rounds"

    plan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("patrol_plans.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    assignee_id: Mapped[uuid.UUID] = mapped_column(UUID)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="open")
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PatrolCheckin(IdMixin, Base):
    __tablename__ = "patrol_checkins"

    round_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("patrol_rounds.id"))
    checkpoint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("patrol_checkpoints.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    checked_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    photo_key: Mapped[str | None] = mapped_column(Text)
    finding_event_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
