from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id
from linli.residents.crypto import normalise_id_number

Gender = Literal["male", "female", "other"]
CHINESE_ID = re.compile(r"^[0-9]{17}[0-9X]$")
OTHER_ID = re.compile(r"^[A-Z0-9]{6,32}$")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PHONE_PATTERN = r"^\+?[0-9][0-9 -]{4,30}$"


def id_check_character(first17: str) -> str:
    """The check character of a Chinese resident identity number (ISO 7064 MOD 11-2)."""
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


# 6-32 letters and digits, spaces allowed between them (a Chinese number's check character is checked too).
ID_NUMBER_PATTERN = r"^ *(?:[A-Za-z0-9] *){6,32}$"


def validate_id_number(value: str | None) -> str | None:
    if value is None:
        return None
    number = normalise_id_number(value)
    if CHINESE_ID.match(number):
        if id_check_character(number[:17]) != number[17]:
            raise ValueError("identity number check character does not match")
        return number
    if len(number) == 18 and number[:17].isdigit():
        raise ValueError("identity number check character must be a digit or X")
    if not OTHER_ID.match(number):
        raise ValueError("identity number must be 6-32 letters and digits")
    return number


class HouseholdCreate(Strict):
    node_id: Id = Field(description="the estate the household lives in")
    location_id: Id | None = Field(default=None, description="the unit (a location of the estate)")
    room: str | None = Field(default=None, min_length=1, max_length=32)


class HouseholdOut(BaseModel):
    id: int
    node_id: Id
    node_path: str
    location_id: Id | None
    room: str | None
    members: int | None = None
    created_at: datetime


class PersonCreate(Strict):
    # What `_one_household` enforces, for the OpenAPI: exactly one of the two, not null.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["household_id"], "properties": {"household_id": {"type": "integer"}}},
                {"required": ["household"], "properties": {"household": {"type": "object"}}},
            ]
        }
    )

    household_id: Id | None = Field(default=None, description="an existing household")
    household: HouseholdCreate | None = Field(default=None, description="or a new household")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    gender: Gender | None = None
    birth_year: int | None = Field(default=None, ge=1880, le=2100)
    id_number: str | None = Field(default=None, max_length=40, pattern=ID_NUMBER_PATTERN)
    care_categories: list[str] = Field(default_factory=list, max_length=10)

    _id = field_validator("id_number")(validate_id_number)

    @model_validator(mode="after")
    def _one_household(self) -> PersonCreate:
        if (self.household_id is None) == (self.household is None):
            raise ValueError("give exactly one of household_id or household")
        return self


class PersonUpdate(Strict):
    """Only the fields sent are changed; `phone` and `id_number` may be cleared with null."""

    household_id: Id | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    gender: Gender | None = None
    birth_year: int | None = Field(default=None, ge=1880, le=2100)
    id_number: str | None = Field(default=None, max_length=40, pattern=ID_NUMBER_PATTERN)
    care_categories: list[str] | None = Field(default=None, max_length=10)

    _id = field_validator("id_number")(validate_id_number)


class PersonOut(BaseModel):
    id: int
    household_id: Id
    estate_id: Id
    location_id: Id | None
    room: str | None
    node_path: str
    name: str
    phone: str | None
    gender: str | None
    birth_year: int | None
    id_number: str | None = Field(description="masked unless the caller's role needs it in full")
    care_categories: list[str]
    masked: bool = Field(description="whether personal data in this record is masked for the caller")
    created_at: datetime
    updated_at: datetime


class LedgerRowError(BaseModel):
    row: int = Field(description="the row as the spreadsheet numbers it (the header is row 1)")
    column: str = Field(description="the column's header in the file")
    code: str
    message: str


class LedgerReportOut(BaseModel):
    rows: int
    valid: int
    error_count: int
    errors: list[LedgerRowError] = Field(description="the first 1 000 refused rows")
    households_created: int
    people_created: int
    people_updated: int
    people_unchanged: int
    stored: bool = Field(description="false for a dry run, or when no row was good")


class LedgerProgress(BaseModel):
    done: int
    total: int


class LedgerImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    node_id: int
    filename: str
    dry_run: bool
    status: Literal["queued", "running", "done", "failed"]
    progress: LedgerProgress | None = Field(default=None, description="rows checked so far, while it runs")
    report: LedgerReportOut | None = None
    error: str | None = Field(default=None, description="why a file could not be imported at all")
    created_at: datetime
    finished_at: datetime | None = None
