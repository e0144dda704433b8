"""What EMQX 5 and VerneMQ send to the broker-auth endpoints and what they expect back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class EmqxAuthn(BaseModel):
    """The body template configured in EMQX: {"username": "${username}", "password": "${password}",
    "clientid": "${clientid}"}; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    username: str | None = None
    password: str | None = None
    clientid: str | None = None


class EmqxAuthz(BaseModel):
    """{"username": "${username}", "topic": "${topic}", "action": "${action}", "clientid": "${clientid}"}."""

    model_config = ConfigDict(extra="ignore")
    username: str | None = None
    topic: str | None = None
    action: Literal["publish", "subscribe"]
    clientid: str | None = None


class EmqxAuthnResult(BaseModel):
    result: Literal["allow", "deny"]
    is_superuser: bool = False


class EmqxAuthzResult(BaseModel):
    result: Literal["allow", "deny"]


class VerneTopic(BaseModel):
    model_config = ConfigDict(extra="ignore")
    topic: str
    qos: int


class VerneHook(BaseModel):
    """What VerneMQ sends to auth_on_register, auth_on_publish and auth_on_subscribe (and their _m5
    variants); the payload of a publish and the MQTT 5 properties are ignored."""

    model_config = ConfigDict(extra="ignore")
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    mountpoint: str = ""
    topic: str | None = None
    topics: list[VerneTopic] = []
