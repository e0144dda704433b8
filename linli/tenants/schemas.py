from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from linli.platform.access import ROLES
from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id
from linli.platform.sources import ApiKeySource

# The schema names the roles; the service refuses others (400 unknown_role) and those the caller may not hand out.
Role = Annotated[str, Field(json_schema_extra={"enum": list(ROLES)})]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=10, max_length=200)


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int | None = None
    role: str
    node_id: Id
    node_path: str


class MeOut(BaseModel):
    kind: str
    id: uuid.UUID
    display_name: str
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    grants: list[GrantOut]


class NodeRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: Id
    name: str
    name_en: str | None
    level: str
    node_path: str


class GrantPermissionsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    grant_id: int | None = Field(description="null for an API key's roles")
    role: str
    node: NodeRef
    breadcrumbs: list[NodeRef] = Field(description="the node and the ancestors you may see, root first")
    permissions: dict[str, list[str]] = Field(description="resource: the actions allowed on it at the node and below")
    own_records_only: bool = Field(description="this role sees only its own records there (residents)")


class MyPermissionsOut(BaseModel):
    """What the caller may do, per grant (a role at a node, valid for its subtree) and in all: the
    console shows its menu and actions from this, never from role names."""

    kind: str
    grants: list[GrantPermissionsOut]
    union: dict[str, list[str]] = Field(description="resource: every action some grant allows")


# A logo is a link, or the image itself uploaded from the console: the pages' CSP lets images come only
# from the site itself or data: URLs, so an uploaded logo travels inline (up to about 48 KB of image).
LOGO_LINK = re.compile(r"^(https://|/)\S{1,495}$")
LOGO_DATA = re.compile(r"^data:image/(png|jpeg|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}$")
LOGO_DATA_MAX = 65_536


class Branding(Strict):
    app_name: str | None = Field(default=None, max_length=60)
    primary_color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    logo_url: str | None = Field(
        default=None,
        max_length=LOGO_DATA_MAX,
        description="an https:// or site-relative link (up to 500 characters), or an uploaded PNG, JPEG, WebP "
        "or SVG image as a base64 data: URL (up to 64 KiB)",
    )
    welcome: str | None = Field(default=None, max_length=500)

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None or LOGO_LINK.match(value) or LOGO_DATA.match(value):
            return value
        raise ValueError("logo_url must be an https:// or site-relative link, or a base64 data:image URL")


class TenantCreate(Strict):
    node_id: Id | None = None
    community_name: str | None = Field(default=None, min_length=2, max_length=100)
    parent_street_id: Id | None = None
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    admin_email: EmailStr
    branding: Branding | None = None
    settings: dict[str, Any] | None = None


class TenantUpdate(Strict):
    branding: Branding | None = None
    settings: dict[str, Any] | None = None
    status: str | None = Field(default=None, pattern=r"^(active|suspended)$")


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    node_id: Id
    node_path: str
    slug: str
    status: str
    branding: dict[str, Any]
    settings: dict[str, Any]
    effective_settings: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(
        default_factory=dict,
        description="in the list and on a tenant's page: users (holding a role), devices, open_events under its node",
        examples=[{"users": 12, "devices": 340, "open_events": 7}],
    )
    created_at: datetime
    delete_after: datetime | None = None


class OnboardingOut(BaseModel):
    tenant: TenantOut
    admin_user_id: uuid.UUID
    invitation_token: str | None = Field(
        description="single-use token for the administrator's first sign-in; null when the account exists"
    )
    invitation_expires_at: datetime | None


class InvitationAccept(Strict):
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(min_length=10, max_length=200)
    display_name: str | None = Field(default=None, max_length=100)


class PasswordResetRequest(Strict):
    login: str = Field(min_length=3, max_length=254)


class PasswordResetConfirm(Strict):
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(min_length=10, max_length=200)


class UserInvite(Strict):
    email: EmailStr
    display_name: str = Field(min_length=1, max_length=100)
    role: Role = Field(examples=["community_staff"])
    node_id: Id


class GrantCreate(Strict):
    user_id: uuid.UUID
    role: Role = Field(examples=["grid_worker"])
    node_id: Id


class UserGrantOut(BaseModel):
    grant_id: Id
    user_id: uuid.UUID
    display_name: str
    email: str | None
    phone: str | None
    masked: bool = Field(description="e-mail and phone are masked: no full-view role over the grant's node")
    role: str
    node_id: Id
    node_path: str


class InviteOut(BaseModel):
    user_id: uuid.UUID
    grant_id: Id
    invitation_token: str | None = Field(description="null when the account already exists")
    invitation_expires_at: datetime | None


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    node_id: Id
    roles: list[Role] = Field(min_length=1, max_length=5, examples=[["integration"]])
    source: ApiKeySource | None = Field(
        default=None,
        description="the event source the key raises events as; `ai_video` keys also get a signing secret",
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    prefix: str
    roles: list[str]
    node_id: Id
    node_path: str
    source: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
    signing_secret: str | None = Field(description="signs the key's requests (ai_video); shown only once")


class AuditEntryOut(BaseModel):
    id: int
    chain: str
    seq: int
    node_path: str
    at: datetime
    actor_id: str | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str | None
    before: Any
    after: Any
    request_id: str | None
    hash: str


class ChainBreakOut(BaseModel):
    seq: int
    problem: str


class ChainStatusOut(BaseModel):
    chain: str
    rows: int
    ok: bool
    first_broken: ChainBreakOut | None = Field(None, description="the chain's first broken entry")


class AuditVerificationOut(BaseModel):
    rows: int
    ok: bool
    chains: list[ChainStatusOut]
