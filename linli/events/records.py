"""What every stage of an event shares: the clock, who raised it, its timeline entries and the
snapshot the audit log keeps. Services never commit: the request or job boundary does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.models import Event, TimelineEntry
from linli.platform.access import Principal
from linli.tenants.repository import UserRepository

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def utcnow() -> datetime:
    return datetime.now(UTC)


def raised_by(actor: Principal | None) -> str:
    """Who sends an intake: external references are unique per sender, so nobody can pre-empt another's."""
    return "system" if actor is None else f"{actor.kind}:{actor.id}"


def snapshot(event: Event) -> dict[str, Any]:
    return {
        "status": event.status,
        "item": event.item_code,
        "handler_unit_id": event.handler_unit_id,
        "escalation_level": event.escalation_level,
        "duplicate_count": event.duplicate_count,
        "version": event.version,
    }


async def label_of(session: AsyncSession, actor: Principal | None, fallback: str = "system") -> str:
    if actor is None:
        return fallback
    if actor.kind == "user":
        user = await UserRepository(session).get(actor.id)
        if user is not None:
            return user.display_name
    return actor.display_name or str(actor.id)


def add_timeline(
    session: AsyncSession,
    event: Event,
    *,
    action: str,
    actor: Principal | None,
    label: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    attachments: Sequence[uuid.UUID] = (),
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        event_id=event.id,
        node_path=event.node_path,
        at=at,
        actor_id=str(actor.id) if actor else None,
        actor_label=label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        attachments=list(attachments),
        data=data or {},
    )
    session.add(entry)
    return entry


def bump(event: Event, at: datetime) -> None:
    event.version += 1
    event.updated_at = at
