"""Settings of the IoT domain (`LINLI_IOT_*`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class IotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    # Metric codes one tenant's own device types may add to the platform's dictionary (codes already
    # known, the catalog's or another tenant's, cost nothing). Ids are never given back.
    iot_max_metrics_per_tenant: int = 200


@lru_cache
def get_iot_settings() -> IotSettings:
    return IotSettings()
