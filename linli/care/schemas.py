from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from linli.platform.hierarchy.schemas import Strict
from linli.residents.schemas import PersonOut

SensorRole = Literal["door", "water", "electricity", "presence", "sos"]
AwayReason = Literal["hospital", "travel", "other"]


class FamilyContact(Strict):
    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(pattern=r"^1[3-9][0-9]{9}$")
    relation: str = Field(default="", max_length=20)


class ProfileIn(Strict):
    not_seen_hours: int | None = Field(default=None, ge=1, le=720, description="overrides the category's window")
    quiet_start: time | None = Field(default=None, description="quiet hours start, local time (no alert)")
    quiet_end: time | None = None
    family_contacts: list[FamilyContact] = Field(default_factory=list, max_length=5)


class ProfileOut(ProfileIn):
    category_hours: int | None = Field(description="the shortest not-seen window of the person's categories")
    effective_hours: int | None


class SensorIn(Strict):
    device_id: int
    role: SensorRole


class SensorOut(BaseModel):
    id: int
    device_id: int
    role: SensorRole
    type_code: str
    serial: str
    last_seen_at: datetime | None
    created_at: datetime


class AwayIn(Strict):
    reason: AwayReason
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    note: str = Field(default="", max_length=500)


class AwayOut(BaseModel):
    id: int
    reason: AwayReason
    starts_at: datetime
    ends_at: datetime
    note: str


class AlertOut(BaseModel):
    id: int
    silent_since: datetime
    opened_at: datetime
    cleared_at: datetime | None
    event_id: str | None


class VisitOut(BaseModel):
    id: int
    person_id: int
    person_name: str
    room: str | None
    care_categories: list[str]
    node_path: str
    due_on: date
    status: Literal["open", "done"]
    overdue: bool
    visited_at: datetime | None
    note: str | None
    has_photo: bool
    escalated_at: datetime | None


class PersonCareOut(BaseModel):
    person: PersonOut
    profile: ProfileOut
    sensors: list[SensorOut]
    away: list[AwayOut]
    alerts: list[AlertOut]
    visits: list[VisitOut]


class CategoryOverview(BaseModel):
    category: str
    people: int
    open_not_seen: int
    visits_due: int
    visits_overdue: int
    visits_done: int
    visits_on_time: int


class OverviewOut(BaseModel):
    node_id: int
    since: datetime
    until: datetime
    people: int = Field(description="cared-for people (each once)")
    open_not_seen: int
    visits_due: int
    visits_overdue: int
    visits_done: int
    on_time_rate: float | None
    categories: list[CategoryOverview]
