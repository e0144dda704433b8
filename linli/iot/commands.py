"""Commands to actuators (alarm linkage, or sent by staff): published after the commit that created them,
acknowledged by the device, timed out (and, for linkage, escalated)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import broker, publisher
from linli.iot.catalog import load_types
from linli.iot.devices import get_device, now
from linli.iot.models import Command
from linli.iot.repository import (
    AlarmRepository,
    CommandRepository,
    DeviceRepository,
)
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, after_commit, tenant_chain
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.errors import BadRequest, Conflict

log = logging.getLogger(__name__)


@dataclass
class PendingCommand:
    id: int
    topic: str
    payload: bytes
    deadline_s: float


async def list_commands(
    session: AsyncSession, *, device_id: int, after_id: int | None, limit: int
) -> Sequence[Command]:
    """A visible device's commands, newest first."""
    device = await get_device(session, device_id=device_id)
    return await CommandRepository(session).list_for_device(device.id, after_id=after_id, limit=limit)


# What a command's declared argument types accept (JSON has one number type; a bool is no number here).
ARGUMENT_TYPES: dict[str, tuple[type, ...]] = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


def argument_problem(declared: Mapping[str, str], args: Mapping[str, object]) -> str | None:
    """Why `args` are not exactly the arguments a command declares (name: type), or None."""
    if unknown := sorted(set(args) - set(declared)):
        return f"takes no argument {', '.join(unknown)}"
    if missing := sorted(set(declared) - set(args)):
        return f"needs {', '.join(missing)}"
    for name, kind in declared.items():
        value = args[name]
        if isinstance(value, bool) != (kind == "bool") or not isinstance(value, ARGUMENT_TYPES.get(kind, (str,))):
            return f"{name} must be {kind}"
    return None


async def send_command(
    session: AsyncSession, *, actor: Principal, device_id: int, command: str, args: Mapping[str, object]
) -> Command:
    """A command to an actuator, one its type declares with exactly its arguments; published to the
    device after the commit, then acknowledged by it or timed out like linkage commands."""
    device = await access_object(
        session,
        actor,
        await DeviceRepository(session).get(device_id),
        permission=Permission("commands", "send"),
        what="device",
    )
    if device.revoked_at is not None:
        raise Conflict(f"device {device.serial} is revoked", code="device_revoked")
    spec = (await load_types(session)).get(device.type_code, device.node_path)
    definition = spec.commands.get(command) if spec is not None and spec.actuator else None
    if definition is None:
        raise BadRequest(f"a {device.type_code} takes no command {command!r}", code="unknown_command")
    if problem := argument_problem(definition.get("args") or {}, args):
        raise BadRequest(f"{command} {problem}", code="bad_command_args")
    tenant = next(t for t in await tenant_chain(session, device.node_path) if t.id == device.tenant_id)
    timeout = float(definition.get("ack_timeout_s", 30))
    repo = CommandRepository(session)
    command_id = await repo.create(
        {
            "tenant_id": device.tenant_id,
            "device_id": device.id,
            "node_path": device.node_path,
            "alarm_id": None,
            "command": command,
            "args": orjson.dumps(args).decode(),
            "timeout": timeout,
        }
    )
    await audit.record(
        session,
        actor=actor,
        action="command.send",
        object_type="command",
        object_id=command_id,
        node_path=device.node_path,
        after={"device_id": device.id, "command": command, "args": dict(args)},
    )
    pending = PendingCommand(
        command_id,
        broker.topic(tenant.slug, device.serial, "commands"),
        orjson.dumps({"command_id": command_id, "command": command, "args": args}),
        timeout,
    )

    async def publish() -> None:
        await dispatch_commands([pending])

    after_commit(session, publish)
    sent = await repo.get(command_id)
    assert sent is not None  # just written, inside the caller's scope
    return sent


async def dispatch_commands(commands: Sequence[PendingCommand]) -> None:
    """After the commit that created them: publish, mark sent, and schedule the acknowledgement deadline."""
    if not commands:
        return
    from linli.platform import jobs  # imported here: the jobs registry imports this module

    try:
        await publisher.publish([(c.topic, c.payload) for c in commands])
    except (broker.BrokerError, OSError):
        log.exception("could not publish %d command(s); the sweep will time them out", len(commands))
        return
    async with scoped_session(SYSTEM_SCOPE) as session:
        await CommandRepository(session).mark_sent([c.id for c in commands])
    for c in commands:
        try:
            await jobs.enqueue_now(
                "command_ack_timeout",
                c.id,
                job_id=f"iot-cmd-timeout-{c.id}",
                defer_until=now() + timedelta(seconds=c.deadline_s + 1),
            )
        except Exception:  # Redis away: the periodic sweep times the command out instead
            log.warning("could not schedule the ack deadline of command %s; the sweep will", c.id)


async def acknowledge_command(session: AsyncSession, *, device_id: int, payload: bytes) -> bool:
    try:
        body = orjson.loads(payload)
        command_id = int(body["command_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False
    ok = str(body.get("status", "ok")).lower() in ("ok", "done", "acked", "success")
    result = orjson.dumps(body.get("result")).decode() if body.get("result") is not None else None
    return await CommandRepository(session).acknowledge(
        command_id=command_id, device_id=device_id, ok=ok, result=result
    )


async def expire_commands(session: AsyncSession, *, command_id: int | None = None) -> int:
    """Time out unacknowledged commands and escalate their alarms (one level per timed-out command)."""
    expired = await CommandRepository(session).expire(command_id=command_id)
    alarms = AlarmRepository(session)
    for cid, alarm_id in expired:
        if alarm_id is None:
            continue
        path = await alarms.escalate(alarm_id)
        if path is not None:
            await alarms.add_history(
                alarm_id=alarm_id, node_path=path, action="escalated", note=f"command {cid} not acknowledged in time"
            )
    return len(expired)
