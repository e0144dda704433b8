"""Settings of the events domain (`LINLI_EVENTS_*`, `LINLI_SMTP_*`, `LINLI_SMS_*`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class EventsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    events_duplicate_window_minutes: int = 30
    events_reopen_window_days: int = 7
    events_low_rating: int = 2
    events_max_attachment_bytes: int = 5 * 1024 * 1024
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

    webhook_timeout_s: float = 5.0
    sms_gateway_url: str | None = None


@lru_cache
def get_events_settings() -> EventsSettings:
    return EventsSettings()
