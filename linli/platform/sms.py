"""The SMS gateway interface: one-time sign-in codes and SMS notifications leave through it.

`LINLI_SMS_GATEWAY_URL` set: a JSON POST `{phone, text}` to that gateway (a provider adapter sits behind
it). Unset outside production: the development outbox, one JSON line per message in
`LINLI_SMS_OUTBOX` (`linli dev sms-outbox` prints it). Unset in production: no gateway, every send fails.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from linli.platform.settings import get_settings


class SmsDeliveryError(Exception):
    """The gateway did not take the message (callers retry, or tell the user to try later)."""


class SmsGateway(Protocol):
    async def send(self, *, phone: str, text: str) -> None: ...


@dataclass
class HttpSmsGateway:
    """Posts `{phone, text}` as JSON to the configured gateway."""

    url: str

    async def send(self, *, phone: str, text: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(self.url, json={"phone": phone, "text": text})
        except httpx.HTTPError as exc:
            raise SmsDeliveryError(f"sms: {exc}") from exc
        if response.status_code >= 300:
            raise SmsDeliveryError(f"sms: HTTP {response.status_code}")


@dataclass
class OutboxSmsGateway:
    """Development only: appends each message as a JSON line to a file instead of sending it."""

    path: Path

    async def send(self, *, phone: str, text: str) -> None:
        line = json.dumps({"at": datetime.now(UTC).isoformat(), "phone": phone, "text": text}, ensure_ascii=False)

        def _append() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as outbox:
                outbox.write(line + "\n")

        await asyncio.to_thread(_append)


@dataclass
class NoSmsGateway:
    """Production without a gateway: messages fail (notifications are retried) rather than vanish."""

    async def send(self, *, phone: str, text: str) -> None:
        raise SmsDeliveryError("no SMS gateway configured (LINLI_SMS_GATEWAY_URL)")


def sms_gateway() -> SmsGateway:
    settings = get_settings()
    if settings.sms_gateway_url:
        return HttpSmsGateway(settings.sms_gateway_url)
    if settings.env != "production":
        return OutboxSmsGateway(Path(settings.sms_outbox))
    return NoSmsGateway()


def read_outbox(path: Path | None = None, *, phone: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest messages of the development outbox (oldest first), optionally for one phone."""
    source = path or Path(get_settings().sms_outbox)
    if not source.exists():
        return []
    messages = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if phone is not None:
        messages = [m for m in messages if m.get("phone") == phone]
    return messages[-limit:]
