from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin
from linli.platform.hierarchy.models import Ltree

RULES = ("volunteer_hour", "checkin", "recycling_dropoff")


class PointsAccount(IdMixin, Base):
    """A resident's account (at their estate's path) or the tenant's pool (at the tenant's path)."""

    __tablename__ = "points_accounts"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("users.id"))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointsMovement(IdMixin, Base):
    """One movement of points; `amount` is what the resident's account gains (negative: spent). Its two
    entries hold the resident's side and the pool's."""

    __tablename__ = "points_movements"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("points_accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(64))
    reward_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("points_rewards.id"))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointsEntry(IdMixin, Base):
    __tablename__ = "points_entries"

    movement_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("points_movements.id"))
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("points_accounts.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    amount: Mapped[int] = mapped_column(BigInteger)


class PointsRule(IdMixin, Base):
    """How many points a tenant gives for a volunteer hour, a check-in, a recycling drop-off."""

    __tablename__ = "points_rules"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    rule: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointsReward(IdMixin, Base):
    """An entry of the tenant's redemption catalogue; `stock` None is unlimited."""

    __tablename__ = "points_rewards"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
