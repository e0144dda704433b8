"""The permissions the IoT endpoints require, one named dependency each (`require` also narrows the
request's row-level scope to the grants carrying the permission)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

DevicesRead = Annotated[Principal, require("devices", "read")]
DevicesCreate = Annotated[Principal, require("devices", "create")]
DevicesDelete = Annotated[Principal, require("devices", "delete")]
TelemetryRead = Annotated[Principal, require("telemetry", "read")]
CommandsRead = Annotated[Principal, require("commands", "read")]
CommandsSend = Annotated[Principal, require("commands", "send")]
AlarmsRead = Annotated[Principal, require("alarms", "read")]
AlarmsAcknowledge = Annotated[Principal, require("alarms", "acknowledge")]
DeadLettersRead = Annotated[Principal, require("dead_letters", "read")]
DeviceTypesRead = Annotated[Principal, require("device_types", "read")]
DeviceTypesCreate = Annotated[Principal, require("device_types", "create")]
DeviceTypesUpdate = Annotated[Principal, require("device_types", "update")]
DeviceTypesDelete = Annotated[Principal, require("device_types", "delete")]
RulesRead = Annotated[Principal, require("rules", "read")]
RulesUpdate = Annotated[Principal, require("rules", "update")]
