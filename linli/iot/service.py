"""The IoT domain's service, what the API and other domains call (the events domain subscribes to opened
alarms through `ALARM_OPENED_HANDLERS`). Never commits; keyword-only arguments. The work is done by
`devices` (registry), `device_types` (types and rule overrides), `alarms`, `commands` (linkage) and
`telemetry` (queries)."""

from linli.iot.alarms import (
    ALARM_OPENED_HANDLERS,
    AlarmOpened,
    AlarmOpenedHandler,
    DeviceContext,
    acknowledge_alarm,
    clear_alarm,
    get_alarm,
    list_alarms,
    open_alarm,
)
from linli.iot.commands import (
    PendingCommand,
    acknowledge_command,
    dispatch_commands,
    expire_commands,
    list_commands,
    send_command,
)
from linli.iot.device_types import (
    create_device_type,
    delete_device_type,
    effective_rules_at,
    get_device_type,
    list_device_types,
    override_rule,
    tenant_type_out,
    update_device_type,
)
from linli.iot.devices import (
    device_out,
    get_device,
    list_devices,
    refresh_device_counts,
    register_bulk,
    register_device,
    revoke_device,
)
from linli.iot.telemetry import list_dead_letters, query_telemetry

__all__ = [
    "ALARM_OPENED_HANDLERS",
    "AlarmOpened",
    "AlarmOpenedHandler",
    "DeviceContext",
    "PendingCommand",
    "acknowledge_alarm",
    "acknowledge_command",
    "clear_alarm",
    "create_device_type",
    "delete_device_type",
    "device_out",
    "dispatch_commands",
    "effective_rules_at",
    "expire_commands",
    "get_alarm",
    "get_device",
    "get_device_type",
    "list_alarms",
    "list_commands",
    "list_dead_letters",
    "list_device_types",
    "list_devices",
    "open_alarm",
    "override_rule",
    "query_telemetry",
    "refresh_device_counts",
    "register_bulk",
    "register_device",
    "revoke_device",
    "send_command",
    "tenant_type_out",
    "update_device_type",
]
