"""Every query of resources and bookings (RLS scopes them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.bookings.models import Booking, Resource


class BookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Resource | Booking) -> None:
        self.session.add(row)

    async def resource(self, resource_id: int, *, for_update: bool = False) -> Resource | None:
        query = select(Resource).where(Resource.id == resource_id)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def resources(
        self, *, service: str | None, before_id: int | None, limit: int, node_path: str | None = None
    ) -> Sequence[Resource]:
        query = select(Resource)
        if service is not None:
            query = query.where(Resource.service_code == service)
        if node_path is not None:
            query = query.where(Resource.node_path.op("<@")(node_path))
        if before_id is not None:
            query = query.where(Resource.id < before_id)
        return (await self.session.scalars(query.order_by(Resource.id.desc()).limit(limit))).all()

    async def open_above(self, *, tenant_id: int, service: str, path: str | None) -> Sequence[Resource]:
        """Open resources of the service residents at `path` (None: anyone) may book."""
        query = select(Resource).where(
            Resource.tenant_id == tenant_id, Resource.service_code == service, Resource.status == "open"
        )
        if path is not None:
            query = query.where(Resource.node_path.op("@>")(path))
        return (await self.session.scalars(query.order_by(Resource.name, Resource.id))).all()

    async def booking(self, booking_id: int, *, for_update: bool = False) -> Booking | None:
        query = select(Booking).where(Booking.id == booking_id)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def between(
        self, resource_id: int, start: datetime, end: datetime, *, user_id: uuid.UUID | None = None
    ) -> Sequence[Booking]:
        """Live bookings of the resource overlapping [start, end), optionally only one resident's."""
        query = select(Booking).where(
            Booking.resource_id == resource_id,
            Booking.status == "booked",
            Booking.starts_at < end,
            Booking.ends_at > start,
        )
        if user_id is not None:
            query = query.where(Booking.user_id == user_id)
        return (await self.session.scalars(query.order_by(Booking.starts_at))).all()

    async def lock_resident(self, resource_id: int, user_id: uuid.UUID) -> None:
        """Serialize one resident's bookings of one resource (the weekly limit counts them)."""
        await self.session.execute(
            text("select pg_advisory_xact_lock(:r, hashtext(:u))"), {"r": resource_id, "u": str(user_id)}
        )

    async def mine(self, user_id: uuid.UUID, *, before_id: int | None, limit: int) -> Sequence[Booking]:
        query = select(Booking).where(Booking.user_id == user_id)
        if before_id is not None:
            query = query.where(Booking.id < before_id)
        return (await self.session.scalars(query.order_by(Booking.id.desc()).limit(limit))).all()

    async def live_from(self, resource_id: int, start: datetime) -> Sequence[Booking]:
        return (
            await self.session.scalars(
                select(Booking)
                .where(Booking.resource_id == resource_id, Booking.status == "booked", Booking.ends_at > start)
                .with_for_update()
            )
        ).all()

    async def starting_between(self, start: datetime, end: datetime) -> Sequence[Booking]:
        return (
            await self.session.scalars(
                select(Booking)
                .where(
                    Booking.status == "booked",
                    Booking.reminded_at.is_(None),
                    Booking.starts_at >= start,
                    Booking.starts_at < end,
                )
                .with_for_update(skip_locked=True)
            )
        ).all()
