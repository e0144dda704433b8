"""Queries on events and what hangs off them (timeline, attachments, ratings)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import false, func, or_, select, text

from linli.events.models import OPEN_STATUSES, Event, EventAttachment, Rating, TimelineEntry
from linli.events.repositories.base import Repository
from linli.platform.hierarchy.models import under_any


def merged_ref(source: str, raised_by: str, external_ref: str) -> str:
    return f"{source}:{raised_by}:{external_ref}"


class EventRepository(Repository):
    async def get(self, event_id: uuid.UUID, *, for_update: bool = False) -> Event | None:
        stmt = select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_external_ref(
        self, *, tenant_id: int | None, source: str, raised_by: str, external_ref: str
    ) -> Event | None:
        """The event the sender created for (source, external_ref), or the one such a report was merged into."""
        stmt = select(Event).where(
            func.coalesce(Event.tenant_id, 0) == (tenant_id or 0),
            Event.source == source,
            Event.raised_by == raised_by,
            Event.external_ref == external_ref,
        )
        found = (await self.session.execute(stmt)).scalar_one_or_none()
        if found is not None:
            return found
        merged = (
            select(Event)
            .where(Event.attrs["merged_refs"].contains([merged_ref(source, raised_by, external_ref)]))
            .where(func.coalesce(Event.tenant_id, 0) == (tenant_id or 0))
            .limit(1)
        )
        return (await self.session.execute(merged)).scalar_one_or_none()

    async def open_duplicate(self, *, item_code: str, node_id: int, place_key: str, since: datetime) -> Event | None:
        stmt = (
            select(Event)
            .where(
                Event.item_code == item_code,
                Event.node_id == node_id,
                Event.place_key == place_key,
                Event.created_at >= since,
                Event.status.in_(OPEN_STATUSES),
            )
            .order_by(Event.created_at)
            .limit(1)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def search(
        self,
        *,
        within_path: str | None,
        reporter_id: uuid.UUID | None,
        status: str | None,
        item_code: str | None,
        source: str | None,
        reporter_unless_within: Sequence[str] = (),
        handler_unit_id: int | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        ids: Sequence[uuid.UUID] | None = None,
        before: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Event]:
        stmt = select(Event).order_by(Event.created_at.desc(), Event.id.desc()).limit(limit)
        if within_path is not None:
            stmt = stmt.where(Event.node_path.op("<@")(func.text2ltree(within_path)))
        if reporter_id is not None:
            # The reporter, or someone whose report was merged into the event; anything under
            # `reporter_unless_within` whoever reported it.
            stmt = stmt.where(
                or_(
                    Event.reporter_id == reporter_id,
                    Event.attrs["co_reporters"].contains([str(reporter_id)]),
                    under_any(Event.node_path, reporter_unless_within) if reporter_unless_within else false(),
                )
            )
        if status:
            stmt = stmt.where(Event.status.in_(status.split(",")))
        if item_code:
            stmt = stmt.where(Event.item_code.in_(item_code.split(",")))
        if source:
            stmt = stmt.where(Event.source == source)
        if handler_unit_id is not None:
            stmt = stmt.where(Event.handler_unit_id == handler_unit_id)
        if created_from is not None:
            stmt = stmt.where(Event.created_at >= created_from)
        if created_to is not None:
            stmt = stmt.where(Event.created_at < created_to)
        if ids is not None:
            stmt = stmt.where(Event.id.in_(ids))
        if before is not None:
            stmt = stmt.where(func.row(Event.created_at, Event.id) < func.row(before[0], before[1]))
        return (await self.session.execute(stmt)).scalars().all()

    async def timeline(self, event_id: uuid.UUID) -> Sequence[TimelineEntry]:
        stmt = select(TimelineEntry).where(TimelineEntry.event_id == event_id).order_by(TimelineEntry.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def attachment(self, attachment_id: uuid.UUID) -> EventAttachment | None:
        return await self.session.get(EventAttachment, attachment_id)

    async def attachments(self, event_id: uuid.UUID) -> Sequence[EventAttachment]:
        stmt = select(EventAttachment).where(EventAttachment.event_id == event_id).order_by(EventAttachment.created_at)
        return (await self.session.execute(stmt)).scalars().all()

    async def ratings(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Rating]:
        if not event_ids:
            return {}
        rows = (await self.session.execute(select(Rating).where(Rating.event_id.in_(event_ids)))).scalars()
        return {r.event_id: r for r in rows}

    async def rating(self, event_id: uuid.UUID) -> Rating | None:
        return (await self.session.execute(select(Rating).where(Rating.event_id == event_id))).scalar_one_or_none()

    async def lock_intake(self, *keys: str) -> None:
        """Serialise intakes that could duplicate each other (same place and item, same external
        reference) until the transaction ends."""
        await self.session.execute(
            text("select pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(cast(:keys as text[])) k"),
            {"keys": list(keys)},
        )

    async def tenant_for_path(self, node_path: str) -> int | None:
        """The innermost tenant owning the path (whether it is writable is `access.assert_writable`'s)."""
        tenant_id = await self.session.scalar(
            text("select tenant_id from linli_tenant_for_path(text2ltree(:p))"), {"p": node_path}
        )
        return int(tenant_id) if tenant_id is not None else None

    async def claim_signature(self, *, key_id: uuid.UUID, signature: str, expires_at: datetime) -> bool:
        """Record a signed request's signature; False if the key already used it (a replay)."""
        claimed = await self.session.scalar(
            text("select linli_claim_signature(:k, :s, :e)"), {"k": key_id, "s": signature, "e": expires_at}
        )
        return bool(claimed)
