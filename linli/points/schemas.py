from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Rule = Literal["volunteer_hour", "checkin", "recycling_dropoff"]


class EarningRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Rule
    points: int = Field(ge=0, le=100_000)


class EarningRulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[EarningRuleIn] = Field(max_length=3)


class EarningRuleOut(BaseModel):
    tenant_id: int
    rule: Rule
    points: int


class RewardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: int = Field(description="the tenant's node (the catalogue is the tenant's)")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    cost: int = Field(gt=0, le=1_000_000)
    stock: int | None = Field(default=None, ge=0)


class RewardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: int
    name: str
    name_en: str
    cost: int
    stock: int | None
    active: bool


class MovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    amount: int = Field(description="what the resident's account gained (negative: spent)")
    reason: str
    reference: str | None
    reward_id: int | None
    note: str | None
    created_at: datetime


class Statement(BaseModel):
    user_id: uuid.UUID
    balance: int
    items: list[MovementOut]
    next_cursor: str | None = None


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: int = Field(description="the tenant's node")
    user_id: uuid.UUID
    amount: int = Field(description="points given (positive) or taken back (negative)")
    note: str = Field(min_length=1, max_length=500)


class RedemptionOut(BaseModel):
    movement: MovementOut
    balance: int
