from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from linli.platform.hierarchy.schemas import Strict


class TenantServiceOut(BaseModel):
    code: str
    section: str
    section_name: str
    section_name_en: str
    kind: str
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


class AppSection(BaseModel):
    code: str
    name: str
    name_en: str
    services: list[TenantServiceOut]


class AppConfig(BaseModel):
    """What a tenant's resident app needs to draw itself: branding and the enabled services by section."""

    tenant: str
    branding: dict[str, Any]
    sections: list[AppSection]
