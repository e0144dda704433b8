from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree

BALLOT_UNITS = ("household", "resident")


class Vote(IdMixin, TimestampMixin, Base):
    """A topic put to the households or residents of a node's subtree (`node_path`)."""

    __tablename__ = "votes"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[list[Any]] = mapped_column(JSONB)
    ballot_per: Mapped[str] = mapped_column(String(16))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID)


class VoteParticipation(Base):
    """Who took part (a household or a resident); the choice only for a named vote. No id, no time."""

    __tablename__ = "vote_participations"

    vote_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("votes.id"), primary_key=True)
    voter_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_path: Mapped[str] = mapped_column(Ltree)
    choice: Mapped[int | None] = mapped_column(SmallInteger)


class VoteTally(Base):
    """The running count of one option: what an anonymous ballot adds to, and nothing else."""

    __tablename__ = "vote_tallies"

    vote_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("votes.id"), primary_key=True)
    choice: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    node_path: Mapped[str] = mapped_column(Ltree)
    count: Mapped[int] = mapped_column(Integer, default=0)
