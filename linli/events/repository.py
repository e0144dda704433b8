"""Every query of the events domain. Row-level security already limits rows to the caller's scopes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.models import (
    OPEN_STATUSES,
    Deadline,
    Event,
    EventAttachment,
    HandlerUnit,
    HandlerUnitMember,
    Notification,
    NotificationPreference,
    Rating,
    RoutingRule,
    TimelineEntry,
    WebhookEndpoint,
)
from linli.platform.hierarchy.models import under_any


@dataclass(frozen=True)
class Route:
    handler_unit_id: int
    name: str
    kind: str
    node_id: int
    node_path: str
    unrouted: bool


@dataclass(frozen=True)
class Item:
    code: str
    line_code: str
    name: str
    name_en: str
    handler: str
    severity: str
    accept_minutes: int
    resolve_minutes: int
    evidence_required: bool
    sources: list[str]


def merged_ref(source: str, external_ref: str) -> str:
    return f"{source}:{external_ref}"


ITEM_CACHE_SECONDS = 60.0
_ITEM_CACHE: dict[str, tuple[float, Item]] = {}


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, obj: object) -> None:
        self.session.add(obj)

    # Catalog ------------------------------------------------------------------------------------
    async def item(self, code: str) -> Item | None:
        """Catalog rows change only when the catalogs are re-seeded: cached per process for a minute."""
        cached = _ITEM_CACHE.get(code)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        item = await self._load_item(code)
        if item is not None:
            _ITEM_CACHE[code] = (time.monotonic() + ITEM_CACHE_SECONDS, item)
        return item

    async def _load_item(self, code: str) -> Item | None:
        row = (
            await self.session.execute(
                text(
                    "select code, line_code, name, name_en, handler, severity, accept_minutes, resolve_minutes, "
                    "evidence_required, sources from event_items where code = :c"
                ),
                {"c": code},
            )
        ).first()
        return Item(*row) if row else None

    async def items(self) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            text(
                "select i.code, i.line_code, i.name, i.name_en, i.handler, i.severity, i.accept_minutes, "
                "i.resolve_minutes, i.evidence_required, i.sources, l.name as line_name, l.name_en as line_name_en "
                "from event_items i join event_lines l on l.code = i.line_code order by l.position, i.code"
            )
        )
        return [dict(r._mapping) for r in rows]

    # Dispatch -----------------------------------------------------------------------------------
    async def route(self, *, item: Item, node_path: str) -> Route | None:
        row = (
            await self.session.execute(
                text(
                    "select handler_unit_id, name, kind, node_id, node_path::text, unrouted "
                    "from linli_event_dispatch(:item, :line, :kind, text2ltree(:path))"
                ),
                {"item": item.code, "line": item.line_code, "kind": item.handler, "path": node_path},
            )
        ).first()
        return Route(*row) if row and row[0] is not None else None

    async def route_to_kind(self, *, kind: str, node_path: str) -> Route | None:
        """The nearest active unit of `kind` at or above `node_path` (no routing rules)."""
        row = (
            await self.session.execute(
                text(
                    "select handler_unit_id, name, kind, node_id, node_path::text, unrouted "
                    "from linli_event_dispatch(null, null, :kind, text2ltree(:path))"
                ),
                {"kind": kind, "path": node_path},
            )
        ).first()
        return Route(*row) if row and row[0] is not None else None

    async def lock_intake(self, *keys: str) -> None:
        """Serialise intakes that could duplicate each other (same place and item, same external
        reference) until the transaction ends."""
        await self.session.execute(
            text("select pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(cast(:keys as text[])) k"),
            {"keys": list(keys)},
        )

    async def tenant_for_path(self, node_path: str) -> int | None:
        """The innermost tenant around the path (writability is `access.assert_writable`'s)."""
        tenant_id = (
            await self.session.execute(
                text("select tenant_id from linli_tenant_for_path(text2ltree(:p))"), {"p": node_path}
            )
        ).scalar_one()
        return int(tenant_id) if tenant_id is not None else None

    async def unit_member_ids(self, unit_id: int) -> list[uuid.UUID]:
        rows = await self.session.execute(text("select user_id from linli_handler_unit_members(:u)"), {"u": unit_id})
        return [r[0] for r in rows]

    async def webhooks_for_path(self, node_path: str) -> list[tuple[int, str]]:
        rows = await self.session.execute(
            text("select id, url from linli_webhooks_for_path(text2ltree(:p))"), {"p": node_path}
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def users_granted_at(self, node_id: int) -> list[uuid.UUID]:
        rows = await self.session.execute(
            text("select distinct user_id from role_grants where node_id = :n and role <> 'resident'"), {"n": node_id}
        )
        return [r[0] for r in rows]

    async def unit(self, unit_id: int) -> HandlerUnit | None:
        return await self.session.get(HandlerUnit, unit_id)

    async def units(
        self, *, within_path: str | None, kind: str | None, after_id: int | None, limit: int
    ) -> Sequence[HandlerUnit]:
        stmt = select(HandlerUnit).order_by(HandlerUnit.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(HandlerUnit.node_path.op("<@")(func.text2ltree(within_path)))
        if kind:
            stmt = stmt.where(HandlerUnit.kind == kind)
        if after_id is not None:
            stmt = stmt.where(HandlerUnit.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def unit_at(self, *, node_id: int, kind: str) -> HandlerUnit | None:
        stmt = (
            select(HandlerUnit)
            .where(HandlerUnit.node_id == node_id, HandlerUnit.kind == kind, HandlerUnit.active)
            .order_by(HandlerUnit.id)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def member(self, unit_id: int, user_id: uuid.UUID) -> HandlerUnitMember | None:
        stmt = select(HandlerUnitMember).where(
            HandlerUnitMember.handler_unit_id == unit_id, HandlerUnitMember.user_id == user_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def rules(self, *, within_path: str | None, after_id: int | None, limit: int) -> Sequence[RoutingRule]:
        stmt = select(RoutingRule).order_by(RoutingRule.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(RoutingRule.node_path.op("<@")(func.text2ltree(within_path)))
        if after_id is not None:
            stmt = stmt.where(RoutingRule.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def rule(self, rule_id: int) -> RoutingRule | None:
        return await self.session.get(RoutingRule, rule_id)

    async def delete(self, obj: object) -> None:
        await self.session.delete(obj)

    # Events -------------------------------------------------------------------------------------
    async def get(self, event_id: uuid.UUID, *, for_update: bool = False) -> Event | None:
        stmt = select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_external_ref(self, *, tenant_id: int | None, source: str, external_ref: str) -> Event | None:
        """The event created for (source, external_ref), or the one such a report was merged into."""
        stmt = select(Event).where(
            func.coalesce(Event.tenant_id, 0) == (tenant_id or 0),
            Event.source == source,
            Event.external_ref == external_ref,
        )
        found = (await self.session.execute(stmt)).scalar_one_or_none()
        if found is not None:
            return found
        merged = (
            select(Event)
            .where(Event.attrs["merged_refs"].contains([merged_ref(source, external_ref)]))
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

    async def rating(self, event_id: uuid.UUID) -> Rating | None:
        return (await self.session.execute(select(Rating).where(Rating.event_id == event_id))).scalar_one_or_none()

    # Deadlines ----------------------------------------------------------------------------------
    async def due_deadlines(self, *, now: datetime, limit: int) -> Sequence[Deadline]:
        stmt = (
            select(Deadline)
            .where(Deadline.done_at.is_(None), Deadline.due_at <= now)
            .order_by(Deadline.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
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

    async def open_deadlines(self, event_id: uuid.UUID) -> Sequence[Deadline]:
        stmt = select(Deadline).where(Deadline.event_id == event_id, Deadline.done_at.is_(None)).order_by(Deadline.id)
        return (await self.session.execute(stmt)).scalars().all()

    # Notifications ------------------------------------------------------------------------------
    async def preferences(self, user_ids: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, str], NotificationPreference]:
        if not user_ids:
            return {}
        stmt = select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
        return {(p.user_id, p.channel): p for p in (await self.session.execute(stmt)).scalars()}

    async def preference(self, user_id: uuid.UUID, channel: str) -> NotificationPreference | None:
        return await self.session.get(NotificationPreference, (user_id, channel))

    async def inbox(
        self, *, user_id: uuid.UUID, unread_only: bool, before_id: int | None, limit: int
    ) -> Sequence[Notification]:
        stmt = (
            select(Notification)
            .where(Notification.recipient_id == user_id, Notification.channel == "in_app")
            .order_by(Notification.id.desc())
            .limit(limit)
        )
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        if before_id is not None:
            stmt = stmt.where(Notification.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def notification(self, notification_id: int) -> Notification | None:
        return await self.session.get(Notification, notification_id)

    async def pending_notifications(
        self, *, now: datetime, limit: int, ids: Sequence[int] | None = None
    ) -> Sequence[Notification]:
        stmt = (
            select(Notification)
            .where(Notification.state == "pending", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        return (await self.session.execute(stmt)).scalars().all()

    async def webhook(self, endpoint_id: int) -> WebhookEndpoint | None:
        return await self.session.get(WebhookEndpoint, endpoint_id)

    async def webhooks(
        self, *, within_path: str | None, active: bool | None, after_id: int | None, limit: int
    ) -> Sequence[WebhookEndpoint]:
        stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(WebhookEndpoint.node_path.op("<@")(func.text2ltree(within_path)))
        if active is not None:
            stmt = stmt.where(WebhookEndpoint.active.is_(active))
        if after_id is not None:
            stmt = stmt.where(WebhookEndpoint.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    # KPIs ---------------------------------------------------------------------------------------
    async def kpis(self, *, path: str, since: datetime, until: datetime) -> dict[str, Any]:
        row = (
            await self.session.execute(
                text("select * from linli_event_kpis(text2ltree(:p), :f, :t)"), {"p": path, "f": since, "t": until}
            )
        ).one()
        return dict(row._mapping)

    async def counts(self, *, path: str, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
        rows = await self.session.execute(
            text("select dimension, key, count from linli_event_counts(text2ltree(:p), :f, :t)"),
            {"p": path, "f": since, "t": until},
        )
        return [(r[0], r[1], int(r[2])) for r in rows]
