"""Device registry: register (one or a CSV file), list, read, revoke. Never commits; keyword-only arguments."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import broker
from linli.iot.models import Device
from linli.iot.repository import (
    DeviceRepository,
)
from linli.iot.schemas import (
    Credentials,
    DeviceCreated,
    DeviceOut,
    LocationIn,
)
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, after_commit, tenant_chain
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.security import new_secret, sha256_hex

log = logging.getLogger(__name__)

TOKEN_PREFIX = "dt_"
LOCATION_KEYS = ("building", "unit", "floor", "space")


def now() -> datetime:
    return datetime.now(UTC)


def device_status(device: Device, *, interval_s: int | None = None, at: datetime | None = None) -> str:
    if device.revoked_at is not None:
        return "revoked"
    if device.last_seen_at is None:
        return "registered"
    if interval_s is not None:
        limit = timedelta(seconds=max(3 * interval_s, 300))
        return "online" if (at or now()) - device.last_seen_at <= limit else "offline"
    return device.status


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        tenant_id=device.tenant_id,
        node_id=device.node_id,
        node_path=device.node_path,
        type=device.type_code,
        serial=device.serial,
        location=device.location,
        status=device_status(device),
        last_seen_at=device.last_seen_at,
        mqtt_username=device.mqtt_username,
        gateway=device.gateway,
        created_at=device.created_at,
        revoked_at=device.revoked_at,
    )


def snapshot(device: Device) -> dict[str, Any]:
    return {
        "type": device.type_code,
        "serial": device.serial,
        "node_id": device.node_id,
        "location": device.location,
        "mqtt_username": device.mqtt_username,
        "gateway": device.gateway,
        "revoked_at": device.revoked_at,
    }


@dataclass
class _Prepared:
    device: Device
    credentials: Credentials
    acl: broker.DeviceAcl


async def _prepare(
    session: AsyncSession,
    *,
    actor: Principal,
    type_code: str,
    serial: str,
    node_id: int,
    location: LocationIn,
    gateway: bool = False,
) -> _Prepared:
    node = await NodeService(session).get_for(actor, node_id, Permission("devices", "create"))
    owners = await tenant_chain(session, node.node_path)
    if not owners:
        raise BadRequest("the node belongs to no tenant", code="no_tenant")
    tenant = owners[-1]
    repo = DeviceRepository(session)
    if not await repo.type_defined(type_code, node.node_path):
        raise BadRequest(f"unknown device type {type_code!r}", code="unknown_device_type")
    if await repo.serial_taken(tenant.id, serial):
        raise Conflict(f"serial {serial!r} is already registered in this tenant", code="serial_taken")
    token = TOKEN_PREFIX + new_secret(24)
    username = f"{tenant.slug}.{serial}"
    password = new_secret(18)
    device = Device(
        tenant_id=tenant.id,
        node_id=node.id,
        node_path=node.node_path,
        type_code=type_code,
        serial=serial,
        location=location.model_dump(exclude_none=True),
        status="registered",
        token_hash=sha256_hex(token),
        mqtt_username=username,
        mqtt_password_hash=sha256_hex(password),
        gateway=gateway,
    )
    credentials = Credentials(
        token=token,
        mqtt_username=username,
        mqtt_password=password,
        telemetry_topic=broker.topic(tenant.slug, serial, "telemetry"),
        commands_topic=broker.topic(tenant.slug, serial, "commands"),
        acks_topic=broker.topic(tenant.slug, serial, "acks"),
    )
    return _Prepared(device, credentials, broker.DeviceAcl(username, password, tenant.slug, serial))


async def _insert(session: AsyncSession, *, actor: Principal, prepared: _Prepared) -> DeviceCreated:
    repo = DeviceRepository(session)
    try:
        async with session.begin_nested():
            repo.add(prepared.device)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("serial is already registered in this tenant", code="serial_taken") from exc
    await session.refresh(prepared.device)
    await audit.record(
        session,
        actor=actor,
        action="device.register",
        object_type="device",
        object_id=prepared.device.id,
        node_path=prepared.device.node_path,
        after=snapshot(prepared.device),
    )
    return DeviceCreated(**device_out(prepared.device).model_dump(), credentials=prepared.credentials)


def _broker_after_commit(session: AsyncSession, acls: list[broker.DeviceAcl]) -> None:
    if not broker.dynsec_enabled():
        return  # the broker asks the broker-auth endpoints, which read the stored hash

    async def create() -> None:
        try:
            await broker.create_devices(acls)
        except (broker.BrokerError, OSError):
            log.exception("could not create %d MQTT client(s) in the broker", len(acls))

    after_commit(session, create)


async def register_device(
    session: AsyncSession,
    *,
    actor: Principal,
    type_code: str,
    serial: str,
    node_id: int,
    location: LocationIn,
    gateway: bool = False,
) -> DeviceCreated:
    prepared = await _prepare(
        session, actor=actor, type_code=type_code, serial=serial, node_id=node_id, location=location, gateway=gateway
    )
    created = await _insert(session, actor=actor, prepared=prepared)
    _broker_after_commit(session, [prepared.acl])
    return created


BULK_COLUMNS = ("type", "serial", "node_id", "building", "unit", "floor", "space", "gateway")
MAX_BULK_ROWS = 5000


async def register_bulk(
    session: AsyncSession, *, actor: Principal, csv_text: str
) -> tuple[list[DeviceCreated], list[dict[str, Any]]]:
    """CSV with a header (type,serial,node_id[,building,unit,floor,space,gateway]); every row on its own."""
    reader = csv.DictReader(io.StringIO(csv_text))
    missing = [c for c in ("type", "serial", "node_id") if c not in (reader.fieldnames or [])]
    if missing:
        raise BadRequest(f"CSV header lacks {', '.join(missing)}", code="bad_csv_header")
    created: list[DeviceCreated] = []
    errors: list[dict[str, Any]] = []
    acls: list[broker.DeviceAcl] = []
    seen: set[str] = set()
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_BULK_ROWS:
            raise BadRequest(f"at most {MAX_BULK_ROWS} rows per upload", code="too_many_rows")
        serial = (row.get("serial") or "").strip()
        try:
            from linli.iot.schemas import DeviceCreate

            body = DeviceCreate.model_validate(
                {
                    "type": (row.get("type") or "").strip(),
                    "serial": serial,
                    "node_id": (row.get("node_id") or "").strip(),
                    "location": {k: row[k].strip() for k in LOCATION_KEYS if row.get(k)},
                    "gateway": (row.get("gateway") or "").strip().lower() in ("1", "true", "yes"),
                }
            )
            if body.serial in seen:
                raise Conflict(f"serial {serial!r} appears twice in the file", code="duplicate_in_file")
            seen.add(body.serial)
            prepared = await _prepare(
                session,
                actor=actor,
                type_code=body.type,
                serial=body.serial,
                node_id=body.node_id,
                location=body.location,
                gateway=body.gateway,
            )
            created.append(await _insert(session, actor=actor, prepared=prepared))
            acls.append(prepared.acl)
        except (BadRequest, Conflict, NotFound) as exc:
            errors.append({"row": number, "serial": serial or None, "code": exc.code, "message": exc.message})
        except ValueError as exc:  # pydantic ValidationError
            first = str(exc).splitlines()
            errors.append(
                {"row": number, "serial": serial or None, "code": "invalid_row", "message": " ".join(first[:3])}
            )
        except Exception as exc:
            from linli.platform.errors import Forbidden

            if isinstance(exc, Forbidden):
                errors.append({"row": number, "serial": serial or None, "code": exc.code, "message": exc.message})
            else:
                raise
    if acls:
        _broker_after_commit(session, acls)
    return created, errors


async def list_devices(
    session: AsyncSession,
    *,
    type_code: str | None,
    node_id: int | None,
    status: str | None,
    after_id: int | None,
    limit: int,
    serial: str | None = None,
) -> Sequence[Device]:
    path = await NodeService(session).path_filter(node_id)
    return await DeviceRepository(session).list(
        type_code=type_code, node_path=path, status=status, serial=serial, after_id=after_id, limit=limit
    )


async def count_under(session: AsyncSession, node_path: str) -> int:
    """A tenant's devices (the console's tenant list counts them through `TENANT_COUNTERS`)."""
    return await DeviceRepository(session).count_under(node_path)


async def refresh_device_counts(session: AsyncSession) -> int:
    """The per-node device counts the dashboards read (a worker job every minute; needs the system scope).
    Returns how many nodes hold devices."""
    return await DeviceRepository(session).refresh_counts()


async def get_device(session: AsyncSession, *, device_id: int) -> Device:
    """A device row-level security shows the caller (the endpoint's permission decided which)."""
    return await access_object(
        session,
        None,
        await DeviceRepository(session).get(device_id),
        permission=Permission("devices", "read"),
        what="device",
    )


async def revoke_device(session: AsyncSession, *, actor: Principal, device_id: int) -> Device:
    # Revoking stays possible in a suspended tenant: it only reduces access.
    device = await access_object(
        session,
        actor,
        await DeviceRepository(session).get(device_id),
        permission=Permission("devices", "delete"),
        what="device",
        write=False,
    )
    if device.revoked_at is None:
        before = snapshot(device)
        device.revoked_at = now()
        device.status = "revoked"
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="device.revoke",
            object_type="device",
            object_id=device.id,
            node_path=device.node_path,
            before=before,
            after=snapshot(device),
        )
    if not broker.dynsec_enabled():
        return device  # the broker-auth endpoints refuse a revoked device at once (after their short cache)
    username = device.mqtt_username

    async def remove() -> None:
        try:
            await broker.delete_devices([username])
        except (broker.BrokerError, OSError):
            log.exception("could not remove MQTT client %s", username)

    after_commit(session, remove)
    return device
