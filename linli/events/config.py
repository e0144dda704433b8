"""Settings of the events domain (`LINLI_EVENTS_*`, `LINLI_SMTP_*`, `LINLI_WEBHOOK_*`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

from linli.platform.netguard import OutboundPolicy, Resolver, parse_networks, system_resolver
from linli.platform.settings import get_settings


class EventsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    events_duplicate_window_minutes: int = 30
    events_reopen_window_days: int = 7
    events_low_rating: int = 2
    events_ai_min_confidence: float = 0.6
    # Deferred arq jobs for deadlines and deliveries; the periodic sweeps run whatever is due regardless.
    events_enqueue_jobs: bool = True

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "linli@localhost"
    smtp_timeout_s: float = 10.0

    # One deadline for the whole delivery: resolution, connection, answer.
    webhook_timeout_s: float = 5.0
    # Networks (CIDRs, comma-separated) webhooks may reach although private or loopback: on-premises
    # integrations. Cloud metadata addresses stay refused.
    webhook_allow_networks: str = ""


def webhook_policy(resolver: Resolver = system_resolver) -> OutboundPolicy:
    """Where webhooks may go: public addresses, plus the allow-listed networks; https only in production."""
    return OutboundPolicy(
        allow=parse_networks(get_events_settings().webhook_allow_networks),
        https_only=get_settings().env == "production",
        resolver=resolver,
    )


@lru_cache
def get_events_settings() -> EventsSettings:
    return EventsSettings()
