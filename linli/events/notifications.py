"""Who hears of an event and how: the in-app inbox (the row itself), notification preferences, e-mail over
SMTP, SMS through the platform's gateway interface (`platform.sms`) and signed webhooks (with their
endpoints). Every notification is a row with its delivery state; pending rows are delivered by a job and
retried with backoff until they succeed or run out of attempts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.config import get_events_settings, webhook_policy
from linli.events.models import Event, Notification, NotificationPreference, WebhookEndpoint
from linli.events.records import SEVERITY_RANK, utcnow
from linli.events.repositories import NotificationRepository, WebhookRepository
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import BadRequest, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.netguard import ForbiddenDestination, Resolver, check_url, pin, system_resolver
from linli.platform.security import hmac_sha256_hex, new_secret
from linli.platform.settings import get_settings
from linli.platform.sms import NoSmsGateway, SmsDeliveryError, SmsGateway, sms_gateway
from linli.tenants.models import User
from linli.tenants.repository import UserRepository

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BASE_BACKOFF = timedelta(seconds=30)


class DeliveryError(Exception):
    """A channel could not deliver; the notification is retried later."""


class EmailSender(Protocol):
    async def send(self, *, to: str, subject: str, body: str) -> None: ...


class WebhookSender(Protocol):
    async def send(self, *, url: str, secret: str, body: bytes) -> None: ...


class SmtpEmailSender:
    async def send(self, *, to: str, subject: str, body: str) -> None:
        cfg = get_events_settings()
        message = EmailMessage()
        message["From"] = cfg.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            await aiosmtplib.send(
                message,
                hostname=cfg.smtp_host,
                port=cfg.smtp_port,
                username=cfg.smtp_username,
                password=cfg.smtp_password,
                start_tls=cfg.smtp_starttls,
                timeout=cfg.smtp_timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp: {exc}") from exc


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`X-Linli-Signature`: HMAC-SHA256 over `<timestamp>.<body>` keyed by the endpoint's secret."""
    return "sha256=" + hmac_sha256_hex(secret, timestamp.encode() + b"." + body)


async def check_webhook_url(url: str) -> None:
    """At registration: the same rules as at send time, for the addresses the host has now."""
    try:
        await check_url(url, webhook_policy())
    except ForbiddenDestination as exc:
        raise BadRequest(f"webhook URL refused: {exc}", code="webhook_url_forbidden") from exc


@dataclass
class HttpWebhookSender:
    """POSTs to the tenant's URL from a pod that holds database credentials, so the URL is checked
    again here (`netguard.pin`): resolved once, every address checked, the connection made to the checked
    address with the original Host header and TLS server name. No redirects, no proxies from the
    environment, one deadline for the whole delivery, the answer's body never read."""

    resolver: Resolver = system_resolver

    async def send(self, *, url: str, secret: str, body: bytes) -> None:
        cfg = get_events_settings()
        timestamp = str(int(time.time()))
        try:
            async with asyncio.timeout(cfg.webhook_timeout_s):
                target = await pin(url, webhook_policy(self.resolver))
                headers = {
                    "host": target.host_header,
                    "content-type": "application/json",
                    "x-linli-timestamp": timestamp,
                    "x-linli-signature": webhook_signature(secret, timestamp, body),
                }
                async with (
                    httpx.AsyncClient(timeout=cfg.webhook_timeout_s, follow_redirects=False, trust_env=False) as client,
                    client.stream(
                        "POST",
                        target.url,
                        content=body,
                        headers=headers,
                        extensions={"sni_hostname": target.server_name},
                    ) as response,
                ):
                    pass  # the status is the answer: the body is never read (headers are capped by h11)
        except ForbiddenDestination as exc:
            raise DeliveryError(f"webhook: refused: {exc}") from exc
        except (httpx.HTTPError, TimeoutError) as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"webhook: HTTP {response.status_code}")


@dataclass
class Senders:
    email: EmailSender = field(default_factory=SmtpEmailSender)
    sms: SmsGateway = field(default_factory=NoSmsGateway)
    webhook: WebhookSender = field(default_factory=HttpWebhookSender)


def default_senders() -> Senders:
    return Senders(sms=sms_gateway())


async def send_one(notification: Notification, senders: Senders, *, webhook_secret: str | None) -> None:
    if notification.channel == "email":
        if not notification.address:
            raise DeliveryError("recipient has no e-mail address")
        await senders.email.send(to=notification.address, subject=notification.title, body=notification.body)
    elif notification.channel == "sms":
        if not notification.address:
            raise DeliveryError("recipient has no phone number")
        try:
            await senders.sms.send(phone=notification.address, text=f"{notification.title} {notification.body}".strip())
        except SmsDeliveryError as exc:
            raise DeliveryError(str(exc)) from exc
    elif notification.channel == "webhook":
        if not notification.address or webhook_secret is None:
            raise DeliveryError("webhook endpoint is gone")
        body = json.dumps(notification.payload, ensure_ascii=False, default=str).encode()
        await senders.webhook.send(url=notification.address, secret=webhook_secret, body=body)


def record_failure(notification: Notification, error: str, now: datetime) -> None:
    notification.attempts += 1
    notification.last_error = error[:500]
    if notification.attempts >= MAX_ATTEMPTS:
        notification.state = "failed"
    else:
        notification.next_attempt_at = now + BASE_BACKOFF * (2 ** (notification.attempts - 1))


async def email_password_reset(user: User, token: str) -> None:
    """The e-mail channel for password-reset links (`linli.wiring` puts it in `RESET_NOTIFIERS`).
    Outside production there is no mail server: the message goes to the log, the development outbox."""
    if not user.email:
        log.warning("password reset for an account without e-mail address (%s): not sent", user.id)
        return
    settings = get_settings()
    subject = "Linli: reset your password / 重置密码"
    body = f"{settings.public_url}/#/reset-password?token={token}\n(valid for one hour / 一小时内有效)"
    if settings.env != "production":
        log.warning("outbox: e-mail to %s: %s\n%s", user.email, subject, body)
        return
    await default_senders().email.send(to=user.email, subject=subject, body=body)


async def notify(
    session: AsyncSession,
    *,
    event: Event,
    kind: str,
    title: str,
    body: str,
    recipients: Iterable[uuid.UUID],
    at: datetime | None = None,
) -> list[Notification]:
    """One in-app row per recipient, plus e-mail/SMS rows where the person asked for them, plus one row
    per webhook endpoint covering the event. Rows other than in-app are delivered by a job."""
    at = at or utcnow()
    repo = NotificationRepository(session)
    ids = list(dict.fromkeys(recipients))
    users = await UserRepository(session).users_by_ids(ids) if ids else {}
    prefs = await repo.preferences(ids)
    created: list[Notification] = []
    rank = SEVERITY_RANK.get(event.severity, 0)

    def wants(user_id: uuid.UUID, channel: str, default: bool) -> bool:
        pref = prefs.get((user_id, channel))
        if pref is None:
            return default
        return pref.enabled and rank >= SEVERITY_RANK.get(pref.min_severity, 0)

    payload = {"event_id": str(event.id), "kind": kind, "item": event.item_code, "status": event.status}
    for user_id in ids:
        user = users.get(user_id)
        if user is None or not user.is_active:
            continue
        if wants(user_id, "in_app", True):
            created.append(
                Notification(
                    node_path=event.node_path,
                    recipient_id=user_id,
                    channel="in_app",
                    event_id=event.id,
                    kind=kind,
                    title=title,
                    body=body,
                    payload=payload,
                    state="delivered",
                    delivered_at=at,
                    next_attempt_at=at,
                )
            )
        for channel, address in (("email", user.email), ("sms", user.phone)):
            if address and wants(user_id, channel, False):
                created.append(
                    Notification(
                        node_path=event.node_path,
                        recipient_id=user_id,
                        channel=channel,
                        address=address,
                        event_id=event.id,
                        kind=kind,
                        title=title,
                        body=body,
                        payload=payload,
                        state="pending",
                        next_attempt_at=at,
                    )
                )
    for endpoint_id, url in await WebhookRepository(session).webhooks_for_path(event.node_path):
        created.append(
            Notification(
                node_path=event.node_path,
                channel="webhook",
                address=url,
                event_id=event.id,
                kind=kind,
                title=title,
                body=body,
                payload=payload | {"endpoint_id": endpoint_id, "title": title, "node_path": event.node_path},
                state="pending",
                next_attempt_at=at,
            )
        )
    for n in created:
        repo.add(n)
    if any(n.state == "pending" for n in created) and get_events_settings().events_enqueue_jobs:
        await session.flush()
        job_after_commit(session, "events_deliver_notifications", [n.id for n in created if n.state == "pending"])
    return created


async def deliver_pending(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    senders: Senders | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 200,
) -> tuple[int, int]:
    """Send due pending notifications; returns (delivered, failed attempts). Rows are locked while
    sending, so two workers never send the same row; a crash leaves them pending for the next run."""
    now = now or utcnow()
    senders = senders or default_senders()
    webhooks = WebhookRepository(session)
    delivered = failed = 0
    for notification in await NotificationRepository(session).pending_notifications(now=now, limit=limit, ids=ids):
        secret: str | None = None
        if notification.channel == "webhook":
            endpoint = await webhooks.webhook(int(notification.payload.get("endpoint_id", 0)))
            secret = endpoint.secret if endpoint is not None and endpoint.active else None
        try:
            await send_one(notification, senders, webhook_secret=secret)
        except DeliveryError as exc:
            record_failure(notification, str(exc), now)
            failed += 1
            continue
        notification.attempts += 1
        notification.state = "delivered"
        notification.delivered_at = now
        notification.last_error = None
        delivered += 1
    return delivered, failed


async def inbox(
    session: AsyncSession,
    *,
    actor: Principal,
    unread_only: bool,
    before_id: int | None,
    limit: int,
    within_path: str | None = None,
) -> Sequence[Notification]:
    """The caller's in-app notifications, newest first (optionally only those about a subtree)."""
    return await NotificationRepository(session).inbox(
        user_id=actor.id, unread_only=unread_only, before_id=before_id, limit=limit, within_path=within_path
    )


async def unread_count(session: AsyncSession, *, actor: Principal, within_path: str | None = None) -> int:
    return await NotificationRepository(session).unread_count(user_id=actor.id, within_path=within_path)


def notify_in_app(
    session: AsyncSession,
    *,
    node_path: str,
    recipient_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    payload: dict[str, Any],
    at: datetime | None = None,
) -> Notification:
    """An inbox row about something other than an event (a form case's decision, say)."""
    at = at or utcnow()
    notification = Notification(
        node_path=node_path,
        recipient_id=recipient_id,
        channel="in_app",
        kind=kind,
        title=title,
        body=body,
        payload=payload,
        state="delivered",
        delivered_at=at,
        next_attempt_at=at,
    )
    NotificationRepository(session).add(notification)
    return notification


async def mark_read(session: AsyncSession, *, actor: Principal, notification_id: int) -> Notification:
    notification = await NotificationRepository(session).notification(notification_id)
    if notification is None or notification.recipient_id != actor.id or notification.channel != "in_app":
        raise NotFound("notification")
    notification.read_at = notification.read_at or utcnow()
    return notification


async def preferences(session: AsyncSession, *, actor: Principal) -> list[dict[str, Any]]:
    stored = await NotificationRepository(session).preferences([actor.id])
    defaults = {"in_app": True, "email": False, "sms": False}
    out = []
    for channel, default in defaults.items():
        pref = stored.get((actor.id, channel))
        out.append(
            {
                "channel": channel,
                "enabled": pref.enabled if pref else default,
                "min_severity": pref.min_severity if pref else "low",
            }
        )
    return out


async def set_preference(
    session: AsyncSession, *, actor: Principal, channel: str, enabled: bool, min_severity: str
) -> None:
    if actor.kind != "user":
        raise BadRequest("only people have notification preferences", code="not_a_user")
    repo = NotificationRepository(session)
    pref = await repo.preference(actor.id, channel)
    before = {"enabled": pref.enabled, "min_severity": pref.min_severity} if pref else None
    if pref is None:
        repo.add(NotificationPreference(user_id=actor.id, channel=channel, enabled=enabled, min_severity=min_severity))
    else:
        pref.enabled, pref.min_severity, pref.updated_at = enabled, min_severity, utcnow()
    if actor.grants:
        await audit.record(
            session,
            actor=actor,
            action="notification_preference.set",
            object_type="user",
            object_id=actor.id,
            node_path=actor.grants[0].node_path,
            before=before,
            after={"channel": channel, "enabled": enabled, "min_severity": min_severity},
        )


async def list_webhooks(
    session: AsyncSession, *, node_id: int | None, active: bool | None, after_id: int | None, limit: int
) -> Sequence[WebhookEndpoint]:
    """Webhook endpoints in scope (never their secrets)."""
    within = await NodeService(session).path_filter(node_id)
    return await WebhookRepository(session).webhooks(within_path=within, active=active, after_id=after_id, limit=limit)


async def webhook_deliveries(
    session: AsyncSession, *, actor: Principal, webhook_id: int, before_id: int | None, limit: int
) -> Sequence[Notification]:
    """An endpoint's recent deliveries with their state (delivered, pending with the next attempt, failed
    with the last error)."""
    repo = WebhookRepository(session)
    endpoint = await access_object(
        session, actor, await repo.webhook(webhook_id), permission=Permission("handlers", "read"), what="webhook"
    )
    return await repo.deliveries(endpoint.id, before_id=before_id, limit=limit)


async def create_webhook(session: AsyncSession, *, actor: Principal, node_id: int, url: str) -> WebhookEndpoint:
    node = await NodeService(session).get_for(actor, node_id, Permission("handlers", "create"))
    await check_webhook_url(url)
    endpoint = WebhookEndpoint(node_id=node.id, node_path=node.node_path, url=url, secret=new_secret(24))
    WebhookRepository(session).add(endpoint)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="webhook.create",
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        node_path=node.node_path,
        after={"url": url},
    )
    return endpoint


async def retire_webhook(session: AsyncSession, *, actor: Principal, webhook_id: int) -> WebhookEndpoint:
    """Stop delivering to an endpoint (deliveries still pending fail as "endpoint is gone"); the row
    stays so the notifications sent to it keep their meaning."""
    endpoint = await access_object(
        session,
        actor,
        await WebhookRepository(session).webhook(webhook_id),
        permission=Permission("handlers", "delete"),
        what="webhook",
    )
    if endpoint.active:
        endpoint.active = False
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="webhook.retire",
            object_type="webhook_endpoint",
            object_id=endpoint.id,
            node_path=endpoint.node_path,
            before={"url": endpoint.url, "active": True},
            after={"active": False},
        )
    return endpoint


def job_after_commit(
    session: AsyncSession, function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
) -> None:
    """Enqueue once the transaction commits. A failure to reach Redis is logged, not raised: the
    committed rows are the truth and the periodic sweeps pick them up."""
    if not get_events_settings().events_enqueue_jobs:
        return
    from linli.platform.access import after_commit
    from linli.platform.jobs import enqueue_now

    async def _send() -> None:
        try:
            await enqueue_now(function, *args, job_id=job_id, defer_until=defer_until)
        except Exception:
            log.warning("could not enqueue %s%r; the sweep will pick it up", function, args, exc_info=True)

    after_commit(session, _send)
