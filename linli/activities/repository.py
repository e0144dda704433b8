"""Every query of activities and sign-ups (RLS scopes them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.activities.models import Activity, Signup


class ActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Activity | Signup) -> None:
        self.session.add(row)

    async def activity(self, activity_id: int, *, for_update: bool = False) -> Activity | None:
        query = select(Activity).where(Activity.id == activity_id)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def activities(
        self,
        *,
        service: str | None,
        node_path: str | None,
        before_id: int | None,
        limit: int,
        status: str | None = None,
    ) -> Sequence[Activity]:
        query = select(Activity)
        if status is not None:
            query = query.where(Activity.status == status)
        if service is not None:
            query = query.where(Activity.service_code == service)
        if node_path is not None:
            query = query.where(Activity.node_path.op("<@")(node_path))
        if before_id is not None:
            query = query.where(Activity.id < before_id)
        return (await self.session.scalars(query.order_by(Activity.id.desc()).limit(limit))).all()

    async def open_above(
        self, *, tenant_id: int, service: str, path: str | None, after: datetime, limit: int
    ) -> Sequence[Activity]:
        """Open activities of the service whose audience holds `path` (None: all), soonest first."""
        query = select(Activity).where(
            Activity.tenant_id == tenant_id,
            Activity.service_code == service,
            Activity.status == "open",
            Activity.ends_at > after,
        )
        if path is not None:
            query = query.where(Activity.node_path.op("@>")(path))
        return (await self.session.scalars(query.order_by(Activity.starts_at, Activity.id).limit(limit))).all()

    async def signup_of(self, activity_id: int, user_id: uuid.UUID) -> Signup | None:
        return await self.session.scalar(
            select(Signup).where(Signup.activity_id == activity_id, Signup.user_id == user_id)
        )

    async def signup(self, signup_id: int, *, for_update: bool = False) -> Signup | None:
        query = select(Signup).where(Signup.id == signup_id)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def mine(self, user_id: uuid.UUID, activity_ids: Sequence[int]) -> dict[int, Signup]:
        rows = await self.session.scalars(
            select(Signup).where(Signup.user_id == user_id, Signup.activity_id.in_(activity_ids))
        )
        return {s.activity_id: s for s in rows}

    async def first_waitlisted(self, activity_id: int) -> Signup | None:
        return await self.session.scalar(
            select(Signup)
            .where(Signup.activity_id == activity_id, Signup.status == "waitlisted")
            .order_by(Signup.position)
            .limit(1)
            .with_for_update()
        )

    async def waitlist_rank(self, signup: Signup) -> int:
        ahead = await self.session.scalar(
            select(func.count())
            .select_from(Signup)
            .where(
                Signup.activity_id == signup.activity_id,
                Signup.status == "waitlisted",
                Signup.position < signup.position,
            )
        )
        return int(ahead or 0) + 1

    async def signups(self, activity_id: int, *, statuses: Sequence[str] | None = None) -> Sequence[Signup]:
        query = select(Signup).where(Signup.activity_id == activity_id)
        if statuses:
            query = query.where(Signup.status.in_(statuses))
        return (await self.session.scalars(query.order_by(Signup.status, Signup.position))).all()

    async def starting_between(self, start: datetime, end: datetime) -> Sequence[Activity]:
        """Open activities starting in the window whose reminder has not gone out."""
        return (
            await self.session.scalars(
                select(Activity)
                .where(
                    Activity.status == "open",
                    Activity.reminded_at.is_(None),
                    Activity.starts_at >= start,
                    Activity.starts_at < end,
                )
                .with_for_update(skip_locked=True)
            )
        ).all()
