from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id

ItemKind = Literal["offer", "request", "lost", "found"]


class ItemCreate(Strict):
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["prop_tool_box", "com_lost_found"])
    kind: ItemKind = "offer"
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)


class StaffItemCreate(ItemCreate):
    node_id: Id = Field(description="where the item is kept (a community's tool box, an estate's office)")


class ItemOut(BaseModel):
    id: int
    tenant_id: int
    node_id: int
    node_path: str
    service: str
    kind: str
    title: str
    description: str
    owner_id: uuid.UUID
    mine: bool | None = None
    status: str
    created_at: datetime


class Lend(Strict):
    due_at: AwareDatetime = Field(description="when the item is due back")


class LoanAsk(Strict):
    until: AwareDatetime | None = Field(default=None, description="when the borrower means to bring it back")


class LoanOut(BaseModel):
    id: int
    item_id: int
    item_title: str
    borrower_id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    lent_at: datetime | None
    due_at: datetime | None = Field(description="while requested: when the borrower means to bring it back")
    returned_at: datetime | None
    reminded_at: datetime | None
    overdue: bool
    created_at: datetime
