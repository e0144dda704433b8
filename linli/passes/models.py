from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from linli.platform.db import Base, IdMixin, TimestampMixin
from linli.platform.hierarchy.models import Ltree

PASS_KINDS = ("visitor", "item")


class PassKey(TimestampMixin, Base):
    """A tenant's signing key pair; the private key only encrypted (see `keys`). Scoped by the tenant's node."""

    __tablename__ = "pass_keys"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), primary_key=True)
    node_path: Mapped[str] = mapped_column(Ltree)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)


class Pass(IdMixin, TimestampMixin, Base):
    """A visitor's or a large item's pass, issued by a resident at their estate (`node_path`)."""

    __tablename__ = "passes"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("service_definitions.code"))
    kind: Mapped[str] = mapped_column(String(16))
    issued_by: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id"))
    visitor_name: Mapped[str | None] = mapped_column(Text)
    plate: Mapped[str | None] = mapped_column(String(16))
    item: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uses_allowed: Mapped[int] = mapped_column(SmallInteger)
    uses_left: Mapped[int] = mapped_column(SmallInteger)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(UUID)


class PassPassage(IdMixin, Base):
    """One recorded passage through a gate (each uses up one of the pass's uses)."""

    __tablename__ = "pass_passages"

    pass_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("passes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    gate: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[uuid.UUID] = mapped_column(UUID)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
