from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from linli.iot import service
from linli.iot.ingest import IngestWriter, Message
from linli.iot.permissions import (
    AlarmsAcknowledge,
    AlarmsRead,
    CommandsRead,
    CommandsSend,
    DeadLettersRead,
    DevicesCreate,
    DevicesDelete,
    DevicesRead,
    DeviceTypesCreate,
    DeviceTypesDelete,
    DeviceTypesRead,
    DeviceTypesUpdate,
    RulesRead,
    RulesUpdate,
    TelemetryRead,
)
from linli.iot.schemas import (
    AlarmAck,
    AlarmDetail,
    AlarmHistoryOut,
    AlarmOut,
    BulkResult,
    BulkRowError,
    CommandCreate,
    CommandOut,
    DeadLetterOut,
    DeviceCreate,
    DeviceCreated,
    DeviceOut,
    DeviceTypeBody,
    DeviceTypeCreate,
    DeviceTypeOut,
    IngestResult,
    RuleOut,
    RuleOverrideIn,
    TelemetryOut,
)
from linli.platform.access import DbSession
from linli.platform.errors import (
    BadRequest,
    ErrorResponse,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
)
from linli.platform.hierarchy.service import NodeService
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor, next_cursor
from linli.platform.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["iot"])
ingest_router = APIRouter(prefix="/api/v1", tags=["iot"])

# Devices authenticate themselves with their own token (X-Device-Token), not as a principal with roles.
PUBLIC_PATHS = ("/api/v1/ingest",)
# Lists that also show definitions made above the caller's grants: they apply there.
INHERITED_LISTS = ("/api/v1/device-types",)

MAX_CSV_BYTES = 2_000_000
_writer: IngestWriter | None = None


def writer() -> IngestWriter:
    global _writer
    if _writer is None:
        _writer = IngestWriter()
    return _writer


@router.post("/devices", status_code=201, operation_id="register_device")
async def register_device(body: DeviceCreate, session: DbSession, principal: DevicesCreate) -> DeviceCreated:
    """Register a device. The response carries its credentials once: an HTTP token and an MQTT login."""
    return await service.register_device(
        session,
        actor=principal,
        type_code=body.type,
        serial=body.serial,
        node_id=body.node_id,
        location=body.location,
        gateway=body.gateway,
    )


@router.post(
    "/devices/bulk",
    status_code=200,
    operation_id="register_devices_bulk",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def register_devices_bulk(request: Request, session: DbSession, principal: DevicesCreate) -> BulkResult:
    """CSV body (text/csv) with header type,serial,node_id,building,unit,floor,space; a report per row."""
    if "csv" not in request.headers.get("content-type", ""):
        raise UnsupportedMediaType("send the CSV as text/csv")
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"at most {MAX_CSV_BYTES} bytes")
    try:
        csv_text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("the CSV must be UTF-8", code="bad_encoding") from exc
    created, errors = await service.register_bulk(session, actor=principal, csv_text=csv_text)
    return BulkResult(created=created, errors=[BulkRowError(**e) for e in errors])


@router.get("/devices", operation_id="list_devices")
async def list_devices(
    session: DbSession,
    principal: DevicesRead,
    type: Annotated[str | None, Query(max_length=64)] = None,
    node_id: Id | None = None,
    status: Annotated[str | None, Query(pattern="^(registered|online|offline|revoked)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeviceOut]:
    rows = await service.list_devices(
        session, type_code=type, node_id=node_id, status=status, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[service.device_out(d) for d in rows], next_cursor=next_cursor(rows, limit))


@router.get("/devices/{device_id}", operation_id="get_device")
async def get_device(device_id: Id, session: DbSession, principal: DevicesRead) -> DeviceOut:
    return service.device_out(await service.get_device(session, device_id=device_id))


@router.delete("/devices/{device_id}", operation_id="revoke_device")
async def revoke_device(device_id: Id, session: DbSession, principal: DevicesDelete) -> DeviceOut:
    """Revoke: the HTTP token stops working and the MQTT client is removed from the broker."""
    return service.device_out(await service.revoke_device(session, actor=principal, device_id=device_id))


@router.get("/devices/{device_id}/telemetry", operation_id="get_device_telemetry")
async def get_device_telemetry(
    device_id: Id,
    session: DbSession,
    principal: TelemetryRead,
    metric: Annotated[str, Query(min_length=1, max_length=64)],
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    resolution: Annotated[str | None, Query(pattern="^(raw|1h|1d)$")] = None,
) -> TelemetryOut:
    """Raw points for ranges up to 2 days, hourly rollups up to 60 days, daily beyond (or `resolution`)."""
    return await service.query_telemetry(
        session, device_id=device_id, metric=metric, start=from_, end=to, resolution=resolution
    )


@router.get("/devices/{device_id}/commands", operation_id="list_device_commands")
async def list_device_commands(
    device_id: Id,
    session: DbSession,
    principal: CommandsRead,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CommandOut]:
    rows = await service.list_commands(session, device_id=device_id, after_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=[CommandOut.model_validate(c) for c in rows], next_cursor=next_cursor(rows, limit))


@router.post("/devices/{device_id}/commands", status_code=201, operation_id="send_device_command")
async def send_device_command(
    device_id: Id, body: CommandCreate, session: DbSession, principal: CommandsSend
) -> CommandOut:
    """Send a command to an actuator: one its type declares, with exactly the arguments it declares
    (`400 unknown_command`, `bad_command_args`; a revoked device `409 device_revoked`). It is published
    after the commit; follow it in the device's command list (sent, acked, failed or timeout)."""
    command = await service.send_command(
        session, actor=principal, device_id=device_id, command=body.command, args=body.args
    )
    return CommandOut.model_validate(command)


@router.get("/alarms", operation_id="list_alarms")
async def list_alarms(
    session: DbSession,
    principal: AlarmsRead,
    state: Annotated[str | None, Query(pattern="^(open|acknowledged|cleared|active)$")] = None,
    device_id: Id | None = None,
    node_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AlarmOut]:
    rows = await service.list_alarms(
        session, state=state, device_id=device_id, node_id=node_id, after_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[AlarmOut.model_validate(a) for a in rows], next_cursor=next_cursor(rows, limit))


@router.get("/alarms/{alarm_id}", operation_id="get_alarm")
async def get_alarm(alarm_id: Id, session: DbSession, principal: AlarmsRead) -> AlarmDetail:
    alarm, history = await service.get_alarm(session, alarm_id=alarm_id)
    return AlarmDetail(
        **AlarmOut.model_validate(alarm).model_dump(), history=[AlarmHistoryOut.model_validate(h) for h in history]
    )


@router.post("/alarms/{alarm_id}/acknowledge", operation_id="acknowledge_alarm")
async def acknowledge_alarm(
    alarm_id: Id,
    session: DbSession,
    principal: AlarmsAcknowledge,
    body: AlarmAck | None = None,
) -> AlarmOut:
    alarm = await service.acknowledge_alarm(
        session, actor=principal, alarm_id=alarm_id, note=body.note if body else None
    )
    return AlarmOut.model_validate(alarm)


@router.get("/ingest/dead-letters", operation_id="list_dead_letters")
async def list_dead_letters(
    session: DbSession,
    principal: DeadLettersRead,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    device_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeadLetterOut]:
    rows = await service.list_dead_letters(
        session, reason=reason, device_id=device_id, after_id=decode_int_cursor(cursor), limit=limit
    )
    nxt = encode_cursor(rows[-1].id) if len(rows) == limit and rows else None
    return Page(items=[DeadLetterOut.model_validate(d) for d in rows], next_cursor=nxt)


@ingest_router.post(
    "/ingest",
    status_code=202,
    operation_id="ingest_http",
    responses={503: {"model": ErrorResponse, "description": "This process does not serve ingest"}},
)
async def ingest_http(
    request: Request,
    x_device_token: Annotated[str | None, Header(description="the device's token from registration")] = None,
) -> IngestResult:
    """The MQTT payloads over HTTP: `{"ts", "metrics"}` or a gateway batch `{"readings": [...]}`.
    Authenticated by the device token (`X-Device-Token`), not by a user."""
    # Ingest writes as the worker role; in production only the ingest-http workload is given its URL
    # (the API pods have none, and the ingress routes this path elsewhere).
    if not get_settings().worker_database_url:
        raise ServiceUnavailable("HTTP ingest is not served by this process", code="ingest_not_served_here")
    if not x_device_token:
        raise Unauthenticated("X-Device-Token header required")
    w = writer()
    device = await w.authenticate(x_device_token)
    if device is None:
        raise Unauthenticated("unknown or revoked device token")
    # Read only now, for a known device; its size is capped in the ASGI layer (LINLI_BODY_LIMIT_INGEST_BYTES).
    raw = await request.body()
    result = await w.write([Message(source="http", payload=raw, device=device)])
    await service.dispatch_commands(result.commands)
    if result.accepted == 0 and result.dead:
        raise BadRequest(
            f"nothing accepted: {result.errors[0]['reason']}: {result.errors[0]['detail']}",
            code=result.errors[0]["reason"],
            details=result.errors,
        )
    return IngestResult(accepted=result.accepted, stored=result.stored, dead_lettered=result.dead, errors=result.errors)


@router.get("/device-types", operation_id="list_device_types")
async def list_device_types(
    session: DbSession,
    principal: DeviceTypesRead,
    node_id: Annotated[int | None, Query(description="types that apply there or are defined below it")] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[Literal["catalog", "tenant"] | None, Query()] = None,
) -> Page[DeviceTypeOut]:
    """The catalog's device types and tenants' own (one page: a few dozen at most)."""
    node = await NodeService(session).get_visible(principal.home_node_id() if node_id is None else node_id)
    types = await service.list_device_types(session, node_path=node.node_path, code=code, source=source)
    return Page(items=types)


@router.post("/device-types", status_code=201, operation_id="create_device_type")
async def create_device_type(body: DeviceTypeCreate, session: DbSession, principal: DeviceTypesCreate) -> DeviceTypeOut:
    """Define a device type for a tenant: its metrics (validated on ingest), rules and commands. It
    applies to devices at the node and below it."""
    return await service.create_device_type(session, actor=principal, body=body)


@router.get("/device-types/{device_type_id}", operation_id="get_device_type")
async def get_device_type(device_type_id: Id, session: DbSession, principal: DeviceTypesRead) -> DeviceTypeOut:
    return service.tenant_type_out(await service.get_device_type(session, type_id=device_type_id))


@router.put("/device-types/{device_type_id}", operation_id="update_device_type")
async def update_device_type(
    device_type_id: Id,
    body: DeviceTypeBody,
    session: DbSession,
    principal: DeviceTypesUpdate,
) -> DeviceTypeOut:
    """Replace a tenant type's definition (its code and node stay)."""
    return await service.update_device_type(session, actor=principal, type_id=device_type_id, body=body)


@router.delete("/device-types/{device_type_id}", status_code=204, operation_id="delete_device_type")
async def delete_device_type(device_type_id: Id, session: DbSession, principal: DeviceTypesDelete) -> Response:
    """Remove a tenant type no device has (409 device_type_in_use otherwise), with its rule overrides."""
    await service.delete_device_type(session, actor=principal, type_id=device_type_id)
    return Response(status_code=204)


@router.get("/rules", operation_id="list_effective_rules")
async def list_effective_rules(
    session: DbSession,
    principal: RulesRead,
    node_id: Annotated[int | None, Query(description="where the rules apply (default: the node of your grant)")] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[RuleOut]:
    """The rules that apply at a node: the catalog's defaults with every override on its ancestors
    (one page: a node has at most a few dozen)."""
    node = await NodeService(session).get_visible(principal.home_node_id() if node_id is None else node_id)
    rules = await service.effective_rules_at(session, node_path=node.node_path, type_code=type)
    return Page(items=[RuleOut(**r) for r in rules])


@router.put("/rules", operation_id="override_rule")
async def override_rule(body: RuleOverrideIn, session: DbSession, principal: RulesUpdate) -> RuleOut:
    """Override a default rule's parameters (or disable it) for a tenant, community or estate."""
    rule = await service.override_rule(
        session,
        actor=principal,
        node_id=body.node_id,
        type_code=body.type,
        rule_code=body.rule,
        params=body.params,
        enabled=body.enabled,
    )
    return RuleOut(**rule)
