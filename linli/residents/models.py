from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, LargeBinary, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree


class Household(IdMixin, TimestampMixin, Base):
    """A household living at a room of a unit (a location) of an estate; scoped by the estate's path."""

    __tablename__ = "households"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    location_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("locations.id"))
    room: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_households_node_path_gist", "node_path", postgresql_using="gist"),)


class Person(IdMixin, TimestampMixin, Base):
    __tablename__ = "people"

    household_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("households.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    gender: Mapped[str | None] = mapped_column(String(8))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    id_number_encrypted: Mapped[str | None] = mapped_column(Text)
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    care_categories: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_people_node_path_gist", "node_path", postgresql_using="gist"),)


class LedgerImport(Base):
    """An uploaded ledger and what importing it found (the worker runs it; `data` is dropped once read)."""

    __tablename__ = "ledger_imports"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    filename: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    mapping: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True, deferred_raiseload=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
