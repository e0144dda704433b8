from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: int = Field(description="the audience: residents under this node")
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="a `signup` service of the tenant")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=5000)
    place: str = Field(default="", max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    signup_deadline: AwareDatetime
    capacity: int = Field(gt=0, le=100_000)
    volunteer_hours: Decimal = Field(default=Decimal(0), ge=0, le=24, decimal_places=2)


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: int
    node_id: int
    service_code: str
    title: str
    body: str
    place: str
    starts_at: datetime
    ends_at: datetime
    signup_deadline: datetime
    capacity: int
    taken: int
    volunteer_hours: Decimal
    status: str


class AppActivity(ActivityOut):
    my_status: str | None = Field(description="confirmed, waitlisted, cancelled or none")
    my_position: int | None = Field(description="place in the waitlist (1 = next), when waitlisted")


class SignupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    activity_id: int
    user_id: uuid.UUID
    status: str
    position: int
    checked_in_at: datetime | None
    hours: Decimal | None
    created_at: datetime


class CheckinCode(BaseModel):
    code: str = Field(description="show as a QR code; staff scan it to check the resident in")


class CheckinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=10, max_length=2000)
