"""The permissions the IoT endpoints require, one named dependency each (`require` also narrows the
request's row-level scope to the grants carrying the permission); the broker-auth endpoints admit the
broker alone (`BrokerOnly`)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header

from linli.iot.config import get_iot_settings
from linli.platform.access import Principal, require
from linli.platform.errors import Forbidden, Unauthenticated

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

BROKER_SECRET_HEADER = "X-Linli-Broker-Secret"


async def broker_only(
    x_linli_broker_secret: Annotated[str | None, Header(description="the shared secret of the broker")] = None,
) -> None:
    """Only the broker may ask (the broker-auth endpoints): the shared secret LINLI_MQTT_AUTH_SECRET in
    `X-Linli-Broker-Secret`, compared in constant time."""
    expected = get_iot_settings().mqtt_auth_secret
    if not x_linli_broker_secret:
        raise Unauthenticated(f"{BROKER_SECRET_HEADER} header required")
    if not expected or not hmac.compare_digest(x_linli_broker_secret.encode(), expected.encode()):
        raise Forbidden("not the broker", code="not_the_broker")


BrokerOnly = Depends(broker_only)
