from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree

ITEM_KINDS = ("offer", "request", "lost", "found")


class ShareItem(IdMixin, TimestampMixin, Base):
    """Something offered (a tool box's drill), asked for, lost or found; at its owner's estate or at the
    node of the staff who keep it (`node_path`)."""

    __tablename__ = "share_items"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")


class ShareLoan(IdMixin, TimestampMixin, Base):
    """A request to borrow an offered item, then its loan (lent with a due date, returned); scoped by the
    item's path."""

    __tablename__ = "share_loans"

    item_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("share_items.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    borrower_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    lent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
