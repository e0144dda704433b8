from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

Kind = Literal["room", "court", "parking", "day_care"]
# A local time of day as HH:MM (opening hours carry no offset: they are the tenant's wall clock).
LocalTime = Annotated[
    time,
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "examples": ["08:00"]}),
]


class ResourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: int = Field(description="residents under this node may book it")
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="a `booking` service of the tenant")
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    opens: LocalTime = Field(description="local time the first slot starts")
    closes: LocalTime = Field(description="local time the last slot ends")
    slot_minutes: int = Field(ge=5, le=1440)
    weekly_limit: int | None = Field(default=None, gt=0, description="bookings per resident per week")
    cancel_before_minutes: int = Field(default=0, ge=0, description="a booking cancels up to this long before")


class ResourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: int
    node_id: int
    service_code: str
    name: str
    kind: str
    opens: LocalTime
    closes: LocalTime
    slot_minutes: int
    weekly_limit: int | None
    cancel_before_minutes: int
    status: str


class Slot(BaseModel):
    starts_at: datetime
    ends_at: datetime
    free: bool


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime = Field(description="the start of one of the resource's slots")


class BookingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    resource_id: int
    user_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    cancel_reason: str | None
    created_at: datetime
