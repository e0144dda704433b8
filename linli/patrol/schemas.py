from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id


class CheckpointIn(Strict):
    node_id: Id = Field(description="the place: an estate, grid or community node")
    location_id: Id | None = Field(default=None, description="a building or unit of that estate")
    name: str = Field(min_length=1, max_length=100, examples=["3栋消防通道"])


class PlanCreate(Strict):
    node_id: Id = Field(description="the area the plan covers; its checkpoints lie inside it")
    name: str = Field(min_length=1, max_length=100)
    assignee_id: uuid.UUID = Field(description="who walks the rounds")
    weekdays: list[int] = Field(default=[], max_length=7, description="0 = Monday … 6 = Sunday; empty: every day")
    hours: list[int] = Field(min_length=1, max_length=24, description="hours of the day a round is due (local time)")
    window_minutes: int = Field(default=120, ge=10, le=1440, description="time to finish a round")
    checkpoints: list[CheckpointIn] = Field(min_length=1, max_length=100, description="in walking order")


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    node_id: int
    location_id: int | None
    name: str
    code: str = Field(description="what its QR code holds (after `linli-patrol:`)")


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    node_id: int
    name: str
    assignee_id: uuid.UUID
    schedule: dict[str, list[int]]
    window_minutes: int
    active: bool
    created_at: datetime


class PlanDetail(PlanOut):
    checkpoints: list[CheckpointOut]


class CheckinOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    checkpoint_id: int
    checked_at: datetime
    latitude: float | None
    longitude: float | None
    note: str | None
    has_photo: bool
    finding_event_id: uuid.UUID | None


class RoundCheckpoint(BaseModel):
    id: int
    position: int
    name: str
    node_id: int
    checked: CheckinOut | None


class RoundOut(BaseModel):
    id: int
    plan_id: int
    plan_name: str
    assignee_id: uuid.UUID
    due_at: datetime
    deadline_at: datetime
    status: str = Field(description="open, done (on time), late (finished after its deadline or never)")
    completed_at: datetime | None
    checkpoints: list[RoundCheckpoint]


class PatrolOverview(BaseModel):
    done: int = Field(description="rounds finished on time")
    late: int = Field(description="rounds finished after their deadline, or left unfinished")
    open: int
    missed: int = Field(description="checkpoints not checked in rounds left unfinished")
    on_time_rate: float | None = Field(description="done / (done + late); none when no round is over")
