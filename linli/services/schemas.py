from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from linli.platform.hierarchy.schemas import Strict

# What a service does in the app (see the catalog's header).
ServiceKind = Literal["report", "booking", "signup", "form", "info", "pass", "vote", "share", "points", "link"]


class TenantServiceOut(BaseModel):
    code: str
    section: str
    section_name: str
    section_name_en: str
    kind: ServiceKind
    item_code: str | None
    enabled: bool
    position: int
    name: str
    name_en: str
    catalog_name: str
    config: dict[str, Any]


class TenantServiceUpdate(Strict):
    enabled: bool | None = None
    name: str | None = Field(default=None, min_length=1, max_length=40)
    name_en: str | None = Field(default=None, min_length=1, max_length=80)
    config: dict[str, Any] | None = None


class ServiceOrder(Strict):
    codes: list[str] = Field(min_length=1, max_length=200, description="service codes in the order to show them")


class AppService(BaseModel):
    """A service as the resident app shows it: only switched-on ones, in the tenant's order and names."""

    code: str
    section: str
    kind: ServiceKind
    name: str
    name_en: str
    item_code: str | None = Field(description="the event item a report or form service raises")
    url: str | None = Field(description="where a link service opens (https); null for other kinds")


class AppSection(BaseModel):
    code: str
    name: str
    name_en: str
    services: list[AppService]


class AppBranding(BaseModel):
    app_name: str
    primary_color: str = Field(description="#rrggbb")
    logo_url: str | None
    welcome: str | None


class AppConfig(BaseModel):
    """What a tenant's resident app needs to draw itself: branding and the enabled services by section."""

    tenant: str = Field(description="the tenant's slug")
    name: str = Field(description="the tenant's node name, e.g. 木棉岭社区")
    status: Literal["active", "suspended"]
    branding: AppBranding
    sections: list[AppSection]
