"""Every query on patrol plans, rounds and check-ins (row-level security scopes them to the caller)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli.patrol.models import PatrolCheckin, PatrolCheckpoint, PatrolPlan, PatrolRound


class PatrolRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, obj: PatrolPlan | PatrolCheckpoint | PatrolCheckin) -> None:
        self.session.add(obj)

    async def plan(self, plan_id: int) -> PatrolPlan | None:
        return await self.session.get(PatrolPlan, plan_id)

    async def plans(self, *, within_path: str | None, after_id: int | None, limit: int) -> Sequence[PatrolPlan]:
        stmt = select(PatrolPlan).order_by(PatrolPlan.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(PatrolPlan.node_path.op("<@")(func.text2ltree(within_path)))
        if after_id is not None:
            stmt = stmt.where(PatrolPlan.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def active_plans(self) -> Sequence[PatrolPlan]:
        return (await self.session.execute(select(PatrolPlan).where(PatrolPlan.active))).scalars().all()

    async def checkpoints(self, plan_id: int) -> Sequence[PatrolCheckpoint]:
        stmt = select(PatrolCheckpoint).where(PatrolCheckpoint.plan_id == plan_id).order_by(PatrolCheckpoint.position)
        return (await self.session.execute(stmt)).scalars().all()

    async def checkpoint(self, checkpoint_id: int) -> PatrolCheckpoint | None:
        return await self.session.get(PatrolCheckpoint, checkpoint_id)

    async def add_rounds(self, rows: Sequence[dict[str, Any]]) -> int:
        """New rounds; one a plan already has for the same due time is left as it is."""
        if not rows:
            return 0
        stmt = insert(PatrolRound).values(list(rows)).on_conflict_do_nothing(constraint="uq_patrol_rounds_plan_due")
        result = await self.session.execute(stmt.returning(PatrolRound.id))
        return len(result.all())

    async def round(self, round_id: int, *, lock: bool = False) -> PatrolRound | None:
        stmt = select(PatrolRound).where(PatrolRound.id == round_id)
        return (await self.session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()

    async def rounds(
        self,
        *,
        within_path: str | None,
        assignee_id: uuid.UUID | None,
        status: str | None,
        due_before: datetime,
        after_id: int | None,
        limit: int,
    ) -> Sequence[PatrolRound]:
        stmt = select(PatrolRound).where(PatrolRound.due_at < due_before).order_by(PatrolRound.id.desc()).limit(limit)
        if within_path is not None:
            stmt = stmt.where(PatrolRound.node_path.op("<@")(func.text2ltree(within_path)))
        if assignee_id is not None:
            stmt = stmt.where(PatrolRound.assignee_id == assignee_id)
        if status is not None:
            stmt = stmt.where(PatrolRound.status == status)
        if after_id is not None:
            stmt = stmt.where(PatrolRound.id < after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def checkins(self, round_id: int) -> Sequence[PatrolCheckin]:
        stmt = select(PatrolCheckin).where(PatrolCheckin.round_id == round_id).order_by(PatrolCheckin.checked_at)
        return (await self.session.execute(stmt)).scalars().all()

    async def overdue_rounds(self, now: datetime) -> Sequence[PatrolRound]:
        """Open rounds past their deadline, each taken by one sweeper."""
        stmt = (
            select(PatrolRound)
            .where(PatrolRound.status == "open", PatrolRound.deadline_at < now)
            .order_by(PatrolRound.deadline_at)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def overview(self, *, path: str | None, since: datetime, until: datetime) -> dict[str, Any]:
        """Rounds due in [since, until) under `path` by status, their unchecked checkpoints and the on-time
        rate (the SQL function Grafana's KPIs read too)."""
        row = (
            await self.session.execute(
                text("select * from linli_patrol_overview(text2ltree(:p), :f, :t)"),
                {"p": path, "f": since, "t": until},
            )
        ).one()
        return dict(row._mapping)
