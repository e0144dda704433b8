"""Notification channels: in-app inbox (the row itself), e-mail over SMTP, signed webhooks and an SMS
gateway interface. Every notification is a row with its delivery state; pending rows are delivered by
a job and retried with backoff until they succeed or run out of attempts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import httpx

from linli.events.config import get_events_settings, webhook_policy
from linli.events.models import Notification
from linli.platform.errors import BadRequest
from linli.platform.netguard import ForbiddenDestination, Resolver, check_url, pin, system_resolver
from linli.platform.security import hmac_sha256_hex
from linli.platform.settings import get_settings
from linli.tenants.models import User

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BASE_BACKOFF = timedelta(seconds=30)


class DeliveryError(Exception):
    """A channel could not deliver; the notification is retried later."""


class EmailSender(Protocol):
    async def send(self, *, to: str, subject: str, body: str) -> None: ...


class SmsGateway(Protocol):
    async def send(self, *, phone: str, text: str) -> None: ...


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
class HttpSmsGateway:
    """Posts `{phone, text}` as JSON to the configured gateway; a provider adapter sits behind it."""

    url: str

    async def send(self, *, phone: str, text: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(self.url, json={"phone": phone, "text": text})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"sms: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"sms: HTTP {response.status_code}")


@dataclass
class NoSmsGateway:
    """No gateway configured: SMS notifications fail (and are retried) rather than vanish."""

    async def send(self, *, phone: str, text: str) -> None:
        raise DeliveryError("no SMS gateway configured (LINLI_SMS_GATEWAY_URL)")


@dataclass
class Senders:
    email: EmailSender = field(default_factory=SmtpEmailSender)
    sms: SmsGateway = field(default_factory=NoSmsGateway)
    webhook: WebhookSender = field(default_factory=HttpWebhookSender)


def default_senders() -> Senders:
    url = get_events_settings().sms_gateway_url
    return Senders(sms=HttpSmsGateway(url) if url else NoSmsGateway())


async def send_one(notification: Notification, senders: Senders, *, webhook_secret: str | None) -> None:
    if notification.channel == "email":
        if not notification.address:
            raise DeliveryError("recipient has no e-mail address")
        await senders.email.send(to=notification.address, subject=notification.title, body=notification.body)
    elif notification.channel == "sms":
        if not notification.address:
            raise DeliveryError("recipient has no phone number")
        await senders.sms.send(phone=notification.address, text=f"{notification.title} {notification.body}".strip())
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
    """The e-mail channel for password-reset links (registered in `tenants.service.RESET_NOTIFIERS`).
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
