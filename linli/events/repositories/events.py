"""Queries on events and what hangs off them (timeline, attachments, ratings)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, text

from linli.events.models import OPEN_STATUSES, Event, EventAttachment, Rating, TimelineEntry
from linli.events.repositories.base import Repository
from linli.platform.hierarchy.models import under_any


def merged_ref(source: str, raised_by: str, external_ref: str) -> str:
    return f"{source}:{raised_by}:{external_ref}"


def overdue(at: datetime) -> ColumnElement[bool]:
    """`Event.overdue` in SQL: open and not accepted by `accept_by`, or not resolved by `resolve_by`."""
    return and_(
        Event.status.in_(OPEN_STATUSES),
        or_(and_(Event.accepted_at.is_(None), Event.accept_by < at), Event.resolve_by < at),
    )


def _codes(listed: str | None) -> list[str] | None:
    return listed.split(",") if listed else None


@dataclass(frozen=True)
class Handling:
    """Events a person handles: of the units they belong to, and of the kinds of unit their roles
    handle under the paths where they hold those roles."""

    unit_ids: Sequence[int]
    kind_paths: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class EventCriteria:
    """Which events a list or a count shows (every field narrows; comma-separated codes are any of)."""

    within_path: str | None = None
    # The reporter, or someone whose report was merged into the event; anything under
    # `reporter_unless_within` whoever reported it.
    reporter_id: uuid.UUID | None = None
    reporter_unless_within: Sequence[str] = ()
    status: str | None = None
    line_code: str | None = None
    item_code: str | None = None
    source: str | None = None
    handler_unit_id: int | None = None
    assignee_id: uuid.UUID | None = None
    handled_by: Handling | None = None
    overdue_at: datetime | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_since: datetime | None = None
    ids: Sequence[uuid.UUID] | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.within_path is not None:
            out.append(Event.node_path.op("<@")(func.text2ltree(self.within_path)))
        if self.reporter_id is not None:
            out.append(
                or_(
                    Event.reporter_id == self.reporter_id,
                    Event.attrs["co_reporters"].contains([str(self.reporter_id)]),
                    under_any(Event.node_path, self.reporter_unless_within) if self.reporter_unless_within else false(),
                )
            )
        for column, listed in (
            (Event.status, self.status),
            (Event.line_code, self.line_code),
            (Event.item_code, self.item_code),
            (Event.source, self.source),
        ):
            if codes := _codes(listed):
                out.append(column.in_(codes))
        if self.handler_unit_id is not None:
            out.append(Event.handler_unit_id == self.handler_unit_id)
        if self.assignee_id is not None:
            out.append(Event.assignee_id == self.assignee_id)
        if self.handled_by is not None:
            handled: list[ColumnElement[bool]] = [Event.handler_unit_id.in_(self.handled_by.unit_ids)]
            handled += [
                and_(Event.handler_kind == kind, under_any(Event.node_path, paths))
                for kind, paths in self.handled_by.kind_paths.items()
                if paths
            ]
            out.append(or_(*handled))
        if self.overdue_at is not None:
            out.append(overdue(self.overdue_at))
        if self.created_from is not None:
            out.append(Event.created_at >= self.created_from)
        if self.created_to is not None:
            out.append(Event.created_at < self.created_to)
        if self.updated_since is not None:
            out.append(Event.updated_at > self.updated_since)
        if self.ids is not None:
            out.append(Event.id.in_(self.ids))
        return out


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
        self, criteria: EventCriteria, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[Event]:
        """Newest first, after the cursor `before` (created_at, id)."""
        stmt = select(Event).where(*criteria.conditions()).order_by(Event.created_at.desc(), Event.id.desc())
        if before is not None:
            stmt = stmt.where(func.row(Event.created_at, Event.id) < func.row(before[0], before[1]))
        return (await self.session.execute(stmt.limit(limit))).scalars().all()

    async def count_by_status(self, criteria: EventCriteria, *, at: datetime) -> tuple[dict[str, int], int]:
        """How many match, by status, and how many of them are overdue at `at`."""
        stmt = (
            select(Event.status, func.count(), func.count().filter(overdue(at)))
            .where(*criteria.conditions())
            .group_by(Event.status)
        )
        rows = (await self.session.execute(stmt)).all()
        return {status: int(n) for status, n, _ in rows}, sum(int(late) for _, _, late in rows)

    async def count_open_under(self, node_path: str) -> int:
        stmt = (
            select(func.count())
            .select_from(Event)
            .where(Event.status.in_(OPEN_STATUSES), Event.node_path.op("<@")(func.text2ltree(node_path)))
        )
        return int((await self.session.execute(stmt)).scalar_one())

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
