from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from linli.platform.hierarchy.schemas import Strict

SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class LocationIn(Strict):
    building: str | None = Field(default=None, max_length=64)
    unit: str | None = Field(default=None, max_length=64)
    floor: str | None = Field(default=None, max_length=64)
    space: str | None = Field(default=None, max_length=128)


class DeviceCreate(Strict):
    type: str = Field(min_length=1, max_length=64)
    serial: str = Field(pattern=SERIAL_PATTERN)
    node_id: int
    location: LocationIn = Field(default_factory=LocationIn)


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
    tenant_id: int
    node_id: int
    node_path: str
    type: str
    serial: str
    location: dict[str, Any]
    status: str
    last_seen_at: datetime | None
    mqtt_username: str
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
    device_id: int | None
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
    device_id: int
    node_id: int
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
    device_id: int
    alarm_id: int | None
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
    device_id: int
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
    node_id: int
    type: str
    rule: str
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
