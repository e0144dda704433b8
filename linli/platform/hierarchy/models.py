from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    any_,
    cast,
    literal,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from linli.platform.db import Base, IdMixin, TimestampMixin, scopes_literal


class Ltree(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "ltree"


class LtreeArray(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "ltree[]"


def under_any(path: Any, paths: Sequence[str]) -> ColumnElement[bool]:
    """`path <@ any(paths)`: inside one of the subtrees (the form that uses the GiST index)."""
    clause: ColumnElement[bool] = path.op("<@")(any_(cast(literal(scopes_literal(paths)), LtreeArray)))
    return clause


class NodeLevel(enum.StrEnum):
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    estate = "estate"

    @property
    def depth(self) -> int:
        return list(NodeLevel).index(self)

    @property
    def prefix(self) -> str:
        return {"district": "d", "street": "s", "community": "c", "grid": "g", "estate": "e"}[self.value]


class Node(IdMixin, TimestampMixin, Base):
    __tablename__ = "nodes"

    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    node_path: Mapped[str] = mapped_column(Ltree, unique=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The highest label number ever handed to a child: labels are never reused under a parent.
    last_child_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_nodes_node_path_gist", "node_path", postgresql_using="gist"),)


class Location(IdMixin, Base):
    """A place inside an estate (building, unit); not a tree level, but scoped by the estate's path."""

    __tablename__ = "locations"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("nodes.id"))
    node_path: Mapped[str] = mapped_column(Ltree)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("locations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    __table_args__ = (Index("ix_locations_node_path_gist", "node_path", postgresql_using="gist"),)
