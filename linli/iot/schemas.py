from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from linli.platform.hierarchy.schemas import Strict
from linli.platform.ids import Id

SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class LocationIn(Strict):
    building: str | None = Field(default=None, max_length=64)
    unit: str | None = Field(default=None, max_length=64)
    floor: str | None = Field(default=None, max_length=64)
    space: str | None = Field(default=None, max_length=128)


class DeviceCreate(Strict):
    type: str = Field(min_length=1, max_length=64)
    serial: str = Field(pattern=SERIAL_PATTERN)
    node_id: Id
    location: LocationIn = Field(default_factory=LocationIn)
    gateway: bool = Field(default=False, description="may publish readings for other devices of its tenant")


class Credentials(BaseModel):
    token: str
    mqtt_username: str
    mqtt_password: str
    telemetry_topic: str
    commands_topic: str
    acks_topic: str


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    tenant_id: Id
    node_id: Id
    node_path: str
    type: str
    serial: str
    location: dict[str, Any]
    status: str
    last_seen_at: datetime | None
    mqtt_username: str
    gateway: bool
    created_at: datetime
    revoked_at: datetime | None


class DeviceCreated(DeviceOut):
    credentials: Credentials


class BulkRowError(BaseModel):
    row: int
    serial: str | None
    code: str
    message: str


class BulkResult(BaseModel):
    created: list[DeviceCreated]
    errors: list[BulkRowError]


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    received_at: datetime
    device_id: Id | None
    source: str
    topic: str | None
    reason: str
    detail: str
    payload: str


class IngestResult(BaseModel):
    accepted: int
    stored: int
    dead_lettered: int
    errors: list[dict[str, str]]


class AlarmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    device_id: Id
    node_id: Id
    node_path: str
    rule_code: str
    kind: str
    severity: str
    event_item: str | None
    state: str
    value: float | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    escalated_at: datetime | None
    escalation_level: int
    details: dict[str, Any]


class AlarmHistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    action: str
    actor: str
    value: float | None
    note: str | None


class AlarmDetail(AlarmOut):
    history: list[AlarmHistoryOut]


class AlarmAck(Strict):
    note: str | None = Field(default=None, max_length=500)


class CommandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    device_id: Id
    alarm_id: Id | None
    command: str
    args: dict[str, Any]
    status: str
    created_at: datetime
    sent_at: datetime | None
    acked_at: datetime | None
    ack_deadline: datetime
    result: dict[str, Any] | None


class TelemetryPoint(BaseModel):
    ts: datetime
    value: float
    min: float | None = None
    max: float | None = None
    n: int | None = None


class TelemetryOut(BaseModel):
    device_id: Id
    metric: str
    resolution: str
    points: list[TelemetryPoint]


class RuleOut(BaseModel):
    type: str
    code: str
    kind: str
    params: dict[str, Any]
    overridden_at: list[str]


class RuleOverrideIn(Strict):
    node_id: Id
    type: str
    rule: str
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


# ---------------------------------------------------------------- device types (catalog and tenants' own)

TYPE_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
METRIC_CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Severity = Literal["low", "medium", "high", "critical"]


class TypeName(Strict):
    zh: str = Field(min_length=1, max_length=128)
    en: str = Field(min_length=1, max_length=128)


class MetricDef(Strict):
    code: str = Field(pattern=METRIC_CODE_PATTERN)
    kind: Literal["gauge", "state", "counter", "flag"] = "gauge"
    unit: str | None = Field(default=None, max_length=16)
    range: tuple[float, float] | None = Field(default=None, description="[low, high]: readings outside are refused")
    states: dict[str, str] | None = Field(default=None, description="state codes and their meaning")


class LinkageDef(Strict):
    target_type: str = Field(pattern=TYPE_CODE_PATTERN)
    scope: Literal["same_space", "same_floor", "same_unit", "same_building", "same_node"] = "same_space"
    command: str = Field(pattern=METRIC_CODE_PATTERN)
    args: dict[str, bool | int | float | str] = Field(default_factory=dict)


class RuleDef(Strict):
    code: str = Field(pattern=METRIC_CODE_PATTERN)
    kind: Literal["threshold", "state", "absence", "rate"]
    metric: str | None = Field(default=None, pattern=METRIC_CODE_PATTERN)
    above: float | None = None
    below: float | None = None
    clear_below: float | None = None
    clear_above: float | None = None
    hold_s: float = Field(default=0, ge=0, le=86400)
    alarm_states: list[float] | None = None
    for_s: float | None = Field(default=None, gt=0, le=30 * 86400)
    activity: str | None = Field(default=None, pattern=METRIC_CODE_PATTERN)
    above_per_hour: float | None = None
    severity: Severity = "medium"
    raises: str | None = Field(default=None, max_length=64, description="event item code to raise")
    linkage: list[LinkageDef] = Field(default_factory=list, max_length=8)


class CommandDef(Strict):
    code: str = Field(pattern=METRIC_CODE_PATTERN)
    args: dict[str, Literal["bool", "int", "float", "str"]] = Field(default_factory=dict)
    ack_timeout_s: int = Field(default=30, ge=1, le=3600)


class CommandCreate(Strict):
    command: str = Field(pattern=METRIC_CODE_PATTERN, max_length=64, description="one the device's type accepts")
    args: dict[str, bool | int | float | str] = Field(
        default_factory=dict, max_length=16, description="exactly the arguments the command declares"
    )


class DeviceTypeBody(Strict):
    """What a tenant's device type is: the same shape as the catalog's entries."""

    name: TypeName
    interval_s: int = Field(ge=1, le=86400, description="expected seconds between readings")
    actuator: bool = False
    gateway: bool = Field(
        default=False, description="its devices may publish readings for other devices of their tenant"
    )
    metrics: list[MetricDef] = Field(min_length=1, max_length=64)
    rules: list[RuleDef] = Field(default_factory=list, max_length=32)
    commands: list[CommandDef] = Field(default_factory=list, max_length=16)


class DeviceTypeCreate(DeviceTypeBody):
    node_id: Id = Field(description="the node it is defined at: it applies to devices there and below")
    code: str = Field(pattern=TYPE_CODE_PATTERN)


class DeviceTypeOut(BaseModel):
    id: int | None = Field(description="null for the catalog's types")
    code: str
    source: Literal["catalog", "tenant"]
    tenant_id: Id | None
    node_id: Id | None
    node_path: str | None
    name: TypeName
    interval_s: int
    actuator: bool
    gateway: bool
    metrics: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    created_at: datetime | None
    updated_at: datetime | None
