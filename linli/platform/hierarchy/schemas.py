from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from linli.platform.ids import Id


class Strict(BaseModel):
    """Request bodies reject unknown fields: tenant, path and role come from the URL and the principal."""

    model_config = ConfigDict(extra="forbid")


class NodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    parent_id: Id | None
    level: str
    code: str
    name: str
    name_en: str | None
    node_path: str
    attrs: dict[str, Any]
    archived_at: datetime | None = None


class LocationOut(BaseModel):
    """A place inside an estate: a building, or a unit of a building (`parent_id`)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    parent_id: int | None
    kind: str
    name: str


class NodeCreate(Strict):
    parent_id: Id
    name: str = Field(min_length=1, max_length=100)
    name_en: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{1,32}$")
    attrs: dict[str, Any] = Field(default_factory=dict)


class NodeUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    name_en: str | None = Field(default=None, max_length=200)
    attrs: dict[str, Any] | None = None


class NodeMove(Strict):
    new_parent_id: Id
