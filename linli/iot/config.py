"""Settings of the IoT domain (`LINLI_IOT_*`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class IotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    # Metric codes one tenant's own device types may add to the platform's dictionary (codes already
    # known, the catalog's or another tenant's, cost nothing). Ids are never given back.
    iot_max_metrics_per_tenant: int = 200
    # Who holds the device logins and topic rights: `dynsec` (Mosquitto's dynamic-security plugin, which
    # Linli drives) or `http` (the broker asks Linli's /api/v1/mqtt-auth endpoints: EMQX, VerneMQ).
    mqtt_auth_backend: Literal["dynsec", "http"] = "dynsec"
    # The shared secret the broker sends in `X-Linli-Broker-Secret`; unset, those endpoints refuse every call.
    mqtt_auth_secret: str | None = None
    # The platform's own MQTT login (ingest, commands); unset, the password is derived from LINLI_SECRET_KEY.
    mqtt_service_password: str | None = None


@lru_cache
def get_iot_settings() -> IotSettings:
    return IotSettings()
