"""Commands to actuators (alarm linkage): published after the commit that created them, acknowledged by
the device, timed out and escalated."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import broker, publisher
from linli.iot.devices import get_device, now
from linli.iot.models import Command
from linli.iot.repository import (
    AlarmRepository,
    CommandRepository,
)
from linli.platform.db import SYSTEM_SCOPE, scoped_session

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
