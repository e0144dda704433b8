"""Notifications, notification preferences and webhook endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text

from linli.events.models import Notification, NotificationPreference, WebhookEndpoint
from linli.events.repositories.base import Repository


class NotificationRepository(Repository):
    async def preferences(self, user_ids: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, str], NotificationPreference]:
        if not user_ids:
            return {}
        stmt = select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
        return {(p.user_id, p.channel): p for p in (await self.session.execute(stmt)).scalars()}

    async def preference(self, user_id: uuid.UUID, channel: str) -> NotificationPreference | None:
        return await self.session.get(NotificationPreference, (user_id, channel))

    async def inbox(
        self,
        *,
        user_id: uuid.UUID,
        unread_only: bool,
        before_id: int | None,
        limit: int,
        within_path: str | None = None,
    ) -> Sequence[Notification]:
        stmt = (
            select(Notification)
            .where(Notification.recipient_id == user_id, Notification.channel == "in_app")
            .order_by(Notification.id.desc())
            .limit(limit)
        )
        if within_path is not None:
            stmt = stmt.where(Notification.node_path.op("<@")(func.text2ltree(within_path)))
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        if before_id is not None:
            stmt = stmt.where(Notification.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def unread_count(self, *, user_id: uuid.UUID, within_path: str | None = None) -> int:
        stmt = select(func.count()).where(
            Notification.recipient_id == user_id, Notification.channel == "in_app", Notification.read_at.is_(None)
        )
        if within_path is not None:
            stmt = stmt.where(Notification.node_path.op("<@")(func.text2ltree(within_path)))
        return int((await self.session.execute(stmt)).scalar_one())

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


class WebhookRepository(Repository):
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

    async def deliveries(self, endpoint_id: int, *, before_id: int | None, limit: int) -> Sequence[Notification]:
        """What was sent (or is to be sent) to an endpoint, newest first."""
        stmt = (
            select(Notification)
            .where(Notification.channel == "webhook", Notification.payload["endpoint_id"].as_integer() == endpoint_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            stmt = stmt.where(Notification.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def webhooks_for_path(self, node_path: str) -> list[tuple[int, str]]:
        rows = await self.session.execute(
            text("select id, url from linli_webhooks_for_path(text2ltree(:p))"), {"p": node_path}
        )
        return [(int(r[0]), str(r[1])) for r in rows]
