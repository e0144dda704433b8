"""Deadlines of events (accept and resolve, one row per escalation level)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from linli.events.models import Deadline
from linli.events.repositories.base import Repository


class DeadlineRepository(Repository):
    async def due_deadlines(self, *, now: datetime, limit: int) -> Sequence[Deadline]:
        stmt = (
            select(Deadline)
            .where(Deadline.done_at.is_(None), Deadline.due_at <= now)
            .order_by(Deadline.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def for_event(self, event_id: uuid.UUID) -> Sequence[Deadline]:
        stmt = select(Deadline).where(Deadline.event_id == event_id).order_by(Deadline.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def deadline(self, deadline_id: int) -> Deadline | None:
        stmt = select(Deadline).where(Deadline.id == deadline_id).with_for_update(skip_locked=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def close_deadlines(self, event_id: uuid.UUID, *, kinds: Sequence[str], at: datetime, outcome: str) -> None:
        await self.session.execute(
            update(Deadline)
            .where(Deadline.event_id == event_id, Deadline.kind.in_(kinds), Deadline.done_at.is_(None))
            .values(done_at=at, outcome=outcome)
        )
