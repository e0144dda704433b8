from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id

Option = Annotated[str, Field(min_length=1, max_length=200)]


class VoteCreate(Strict):
    node_id: Id = Field(description="whose households or residents vote: this node's subtree")
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["party_deliberation", "com_survey"])
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    options: list[Option] = Field(min_length=2, max_length=20)
    ballot_per: Literal["household", "resident"] = "household"
    anonymous: bool = False
    opens_at: AwareDatetime
    closes_at: AwareDatetime


class OptionResult(BaseModel):
    choice: int
    label: str
    count: int


class VoteOut(BaseModel):
    id: int
    tenant_id: int
    node_id: int
    node_path: str
    service: str
    title: str
    description: str
    options: list[str]
    ballot_per: str
    anonymous: bool
    opens_at: datetime
    closes_at: datetime
    state: Literal["upcoming", "open", "closed"]
    turnout: int = Field(description="ballots cast so far")
    results: list[OptionResult] | None = Field(description="only once the vote has closed")
    voted: bool | None = Field(default=None, description="in the app: whether the caller (or household) voted")


class BallotIn(Strict):
    choice: int = Field(ge=0, lt=20, description="the option's index")


class BallotOut(BaseModel):
    vote_id: int
    voted: bool = True
    anonymous: bool
