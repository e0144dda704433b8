from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id
from linli.services.schemas import AppConfig
from linli.tenants.schemas import TokenOut

# A mainland mobile number: what the registry and the accounts of residents hold.
PHONE_PATTERN = r"^1[3-9][0-9]{9}$"
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, examples=["13800000001"])]
ItemCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
ServiceCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]

# Sign-in and joining -------------------------------------------------------------------------------


class CodeRequest(Strict):
    phone: Phone


class CodeSentOut(BaseModel):
    """The code went out by SMS (never in this answer)."""

    phone: str = Field(description="masked")
    expires_in: int = Field(description="seconds the code is valid")
    resend_after: int = Field(description="seconds before another code may be asked for")


class CodeVerify(Strict):
    phone: Phone
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["123456"])


class JoinRequestMine(BaseModel):
    """The caller's own request to join, as the applicant sees it."""

    id: int
    status: Literal["pending", "approved", "rejected"]
    estate_id: Id
    estate_name: str
    location_id: Id | None
    room: str | None
    name: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None


class CodeSignInOut(BaseModel):
    """`signed_in`: tokens of the resident's account. `join_required`: the registry does not know the
    phone here; `join_token` (valid 30 minutes) lets it ask to join, `join_request` is its newest request."""

    status: Literal["signed_in", "join_required"]
    tokens: TokenOut | None = None
    join_token: str | None = None
    join_token_expires_in: int | None = None
    join_request: JoinRequestMine | None = None


class PlaceUnit(BaseModel):
    id: Id
    name: str


class PlaceBuilding(BaseModel):
    id: Id
    name: str
    units: list[PlaceUnit]


class PlaceEstate(BaseModel):
    id: Id
    name: str
    buildings: list[PlaceBuilding]


class JoinRequestCreate(Strict):
    name: str = Field(min_length=1, max_length=50, description="the applicant's name")
    estate_id: Id
    location_id: Id | None = Field(default=None, description="a building or unit of the estate")
    room: str | None = Field(default=None, min_length=1, max_length=32)


class JoinRequestOut(BaseModel):
    """A request to join as staff see it (name and phone masked for roles that do not need them)."""

    id: int
    tenant_id: Id
    estate_id: Id
    node_path: str
    location_id: Id | None
    room: str | None
    name: str
    phone: str
    status: Literal["pending", "approved", "rejected"]
    reason: str | None
    household_id: Id | None
    person_id: Id | None
    created_at: datetime
    decided_at: datetime | None
    masked: bool


class JoinApprove(Strict):
    household_id: Id | None = Field(
        default=None, description="link to this household of the estate; without it a new household is made"
    )


class JoinReject(Strict):
    reason: str = Field(min_length=1, max_length=500)


# Home ---------------------------------------------------------------------------------------------


class MyHousehold(BaseModel):
    id: Id
    estate_id: Id
    estate_name: str
    building: str | None
    unit: str | None
    location_id: Id | None
    room: str | None


class AppMe(BaseModel):
    id: uuid.UUID
    display_name: str
    phone: str | None = Field(description="masked")
    households: list[MyHousehold]


class NoticeSummary(BaseModel):
    id: int
    service: str
    title: str
    pinned: bool
    node_id: Id
    node_path: str
    published_at: datetime | None
    publish_until: datetime | None
    read: bool


class OpenItem(BaseModel):
    kind: Literal["report", "form_case"]
    id: str = Field(description="the event id (report) or the case id (form case)")
    title: str
    title_en: str
    status: str
    created_at: datetime
    due_at: datetime | None = Field(description="the next promised deadline")


class HomeOut(BaseModel):
    app: AppConfig
    me: AppMe
    pinned_notices: list[NoticeSummary]
    open_items: list[OpenItem]
    unread_notifications: int


# Reports ------------------------------------------------------------------------------------------


class ReportItem(BaseModel):
    code: str
    name: str
    name_en: str
    severity: str
    accept_minutes: int
    resolve_minutes: int
    evidence_required: bool


class ReportLine(BaseModel):
    code: str
    name: str
    name_en: str
    items: list[ReportItem]


class ReportPlace(Strict):
    """Where: one of the caller's households (the default: the first), or a building or unit of an estate
    the caller lives in; with a floor and words."""

    household_id: Id | None = None
    location_id: Id | None = Field(default=None, description="a building or unit, instead of the home")
    floor: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=200, description="e.g. 3楼走廊")


class ReportCreate(Strict):
    # Exactly one of `service` (a report service of the tenant) or `item` (a free choice); for the OpenAPI too.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["item"], "properties": {"item": {"type": "string", "examples": ["ph_public_facility"]}}},
                {"required": ["service"], "properties": {"service": {"type": "string", "examples": ["prop_facility"]}}},
            ]
        },
    )

    service: ServiceCode | None = Field(default=None, examples=["prop_facility"])
    item: ItemCode | None = Field(default=None, examples=["ph_public_facility"])
    description: str = Field(default="", max_length=2000)
    place: ReportPlace = Field(default_factory=ReportPlace)

    @model_validator(mode="after")
    def _one_of(self) -> ReportCreate:
        if (self.service is None) == (self.item is None):
            raise ValueError("give exactly one of service or item")
        return self


class Deadlines(BaseModel):
    accept_by: datetime | None
    resolve_by: datetime | None
    accept_minutes: int
    resolve_minutes: int


class ReportSummary(BaseModel):
    id: uuid.UUID
    item: str
    item_name: str
    item_name_en: str
    status: str
    description: str
    place: str
    created_at: datetime
    deadlines: Deadlines
    rated: bool


class ReportPhoto(BaseModel):
    id: uuid.UUID
    content_type: str
    size_bytes: int
    created_at: datetime
    by: Literal["me", "handler"]


class ReportStep(BaseModel):
    """A step of the timeline as the reporter sees it (internal notes and people left out)."""

    at: datetime
    action: str
    status: str | None
    note: str | None
    photos: list[uuid.UUID]
    by: Literal["me", "handler", "system"]


class ReportRating(BaseModel):
    score: int
    comment: str | None
    created_at: datetime


class ReportDetail(ReportSummary):
    handler: str | None
    merged: bool = Field(description="the report joined an open event at the same place")
    timeline: list[ReportStep]
    photos: list[ReportPhoto]
    rating: ReportRating | None
    can_rate: bool
    can_cancel: bool


class ReportCancel(Strict):
    note: str | None = Field(default=None, max_length=500)


class AppNotification(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    title: str
    body: str
    event_id: uuid.UUID | None
    case_id: int | None
    created_at: datetime
    read_at: datetime | None


# Notices ------------------------------------------------------------------------------------------


class NoticeCreate(Strict):
    node_id: Id = Field(description="the target: residents of this node's subtree see the notice")
    service: ServiceCode = Field(default="com_announcements", description="an info service")
    title: str = Field(min_length=1, max_length=120)
    body: str = Field(default="", max_length=20_000, description="Markdown; images as ![](image:<image id>)")
    pinned: bool = False
    publish_from: datetime | None = None
    publish_until: datetime | None = None


class NoticeUpdate(Strict):
    node_id: Id | None = None
    service: ServiceCode | None = None
    title: str | None = Field(default=None, min_length=1, max_length=120)
    body: str | None = Field(default=None, max_length=20_000)
    pinned: bool | None = None
    publish_from: datetime | None = None
    publish_until: datetime | None = None


class NoticeImage(BaseModel):
    id: uuid.UUID
    content_type: str
    size_bytes: int
    url: str
    markdown: str = Field(description="what to put in the body to show it")


class NoticeOut(BaseModel):
    id: int
    tenant_id: Id
    node_id: Id
    node_path: str
    service: str
    title: str
    body: str
    body_html: str
    pinned: bool
    status: Literal["draft", "published", "withdrawn"]
    publish_from: datetime | None
    publish_until: datetime | None
    published_at: datetime | None
    withdrawn_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    read_count: int
    images: list[NoticeImage]


class NoticeView(NoticeSummary):
    """A notice as a resident reads it: the body rendered and sanitized on the server."""

    body_html: str
    images: list[NoticeImage]


class NoticeReceipt(BaseModel):
    notice_id: int
    read_at: datetime


# Forms --------------------------------------------------------------------------------------------

FieldKind = Literal["text", "number", "date", "choice", "photo", "id_number"]


class Label(BaseModel):
    zh: str = Field(min_length=1, max_length=100)
    en: str = Field(min_length=1, max_length=200)


class ChoiceOption(BaseModel):
    value: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    label: Label


class FormField(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    kind: FieldKind
    label: Label
    required: bool = True
    help: Label | None = None
    max_length: int | None = Field(default=None, ge=1, le=2000, description="text")
    minimum: float | None = Field(default=None, description="number")
    maximum: float | None = Field(default=None, description="number")
    options: list[ChoiceOption] | None = Field(default=None, max_length=50, description="choice")
    multiple: bool = Field(default=False, description="choice: several values; photo: up to max_photos")
    max_photos: int = Field(default=1, ge=1, le=9, description="photo")


class FormDefinitionIn(Strict):
    fields: list[FormField] = Field(min_length=1, max_length=40)


class FormOut(BaseModel):
    service: str
    name: str
    name_en: str
    item_code: str | None
    fields: list[FormField]
    version: int
    custom: bool = Field(description="the tenant's own definition (else the shipped default)")


# A submitted value: text, number, a date (YYYY-MM-DD), a choice (or several), photos (file ids).
FieldValue = str | float | list[str] | None


class FormSubmit(Strict):
    values: dict[str, FieldValue] = Field(
        max_length=40, examples=[{"details": "请开具居住证明"}], description="by field name (unknown names refused)"
    )


class FormPhoto(BaseModel):
    id: uuid.UUID
    content_type: str
    size_bytes: int


class CaseStep(BaseModel):
    at: datetime
    action: str
    status: str | None
    note: str | None
    by: str | None


class CaseOut(BaseModel):
    id: int
    tenant_id: Id
    node_id: Id
    node_path: str
    service: str
    service_name: str
    service_name_en: str
    status: Literal["submitted", "more_info", "approved", "rejected"]
    values: dict[str, Any] = Field(description="identity numbers masked unless the caller's role needs them")
    fields: list[FormField]
    event_id: uuid.UUID | None
    deadlines: Deadlines | None
    decision_note: str | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    version: int
    timeline: list[CaseStep]
    masked: bool


class CaseReview(Strict):
    # What `_note_given` enforces, for the OpenAPI: a reason to reject or to ask for more.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["decision"], "properties": {"decision": {"const": "approve"}}},
                {
                    "required": ["decision", "note"],
                    "properties": {"decision": {"enum": ["reject", "more_info"]}, "note": {"type": "string"}},
                },
            ]
        }
    )

    decision: Literal["approve", "reject", "more_info"]
    note: str | None = Field(
        default=None, min_length=1, max_length=1000, description="required to reject or ask for more"
    )
    version: int | None = Field(default=None, description="optimistic lock: the version you saw")

    @model_validator(mode="after")
    def _note_given(self) -> CaseReview:
        if self.decision != "approve" and not self.note:
            raise ValueError("say why in `note` to reject or to ask for more")
        return self


class ManifestIcon(BaseModel):
    src: str
    sizes: str
    type: str
    purpose: str = "any"


class AppManifest(BaseModel):
    """A web app manifest (W3C): what a phone needs to add the tenant's app to its home screen."""

    name: str
    short_name: str
    start_url: str
    scope: str
    display: Literal["standalone"] = "standalone"
    background_color: str
    theme_color: str
    lang: str = "zh-CN"
    icons: list[ManifestIcon]
