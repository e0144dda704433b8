from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from linli.platform.errors import BadRequest
from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id

MAX_DAYS = 31


class PassCreate(Strict):
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["prop_visitor_pass"])
    kind: Literal["visitor", "item"]
    visitor_name: str | None = Field(default=None, min_length=1, max_length=64)
    plate: str | None = Field(default=None, min_length=2, max_length=16)
    item: str | None = Field(default=None, min_length=1, max_length=200, description="the item and the moving time")
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    uses: int = Field(default=1, ge=1, le=100)


class PassOut(BaseModel):
    id: int
    tenant_id: int
    node_id: int
    node_path: str
    service: str
    kind: str
    visitor_name: str | None
    plate: str | None
    item: str | None
    valid_from: datetime
    valid_until: datetime
    uses_allowed: int
    uses_left: int
    revoked_at: datetime | None
    created_at: datetime
    token: str | None = Field(description="the QR code's payload (only for the resident who issued it)")


class GateKey(BaseModel):
    tenant_id: int
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: str = Field(description="the raw 32-byte public key, base64url without padding")


class Revocations(BaseModel):
    tenant_id: int
    pass_ids: list[int] = Field(description="passes in their window that gates refuse: revoked or used up")
    as_of: datetime


class GateScan(Strict):
    node_id: Id = Field(description="the gate's node (the tenant's or below)")
    token: str = Field(min_length=10, max_length=1000)
    gate: str | None = Field(default=None, max_length=64)


class GateCheck(BaseModel):
    ok: bool
    reason: str | None = Field(description="why it is refused: bad_signature, other_tenant, revoked, ...")
    pass_: PassOut | None = Field(alias="pass", serialization_alias="pass")


class PassageOut(BaseModel):
    id: int
    pass_id: int
    gate: str | None
    at: datetime
    uses_left: int


def refused(reason: str) -> BadRequest:
    return BadRequest(f"the pass is refused: {reason}", code=f"pass_{reason}")
