from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
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
