from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "linli-development-secret-change-me"
LOCAL_PG = "127.0.0.1:55432"
# Settings that hold a secret (URLs included). In production none may keep its development value.
SECRET_SETTINGS = (
    "data_keys",
    "search_key",
    "database_url",
    "worker_database_url",
    "migrate_database_url",
    "api_role_password",
    "worker_role_password",
    "redis_url",
    "mqtt_admin_password",
    "grafana_password",
)
DATABASE_URL_SETTINGS = ("database_url", "worker_database_url", "migrate_database_url")


class Settings(BaseSettings):
    """Every setting is read from a `LINLI_*` environment variable; defaults point at the local services."""

    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # Signs access tokens; the row-level-security scope key is derived from it (HKDF, its own context).
    secret_key: str = DEFAULT_SECRET_KEY
    # Identity-number encryption keys, `<key id>:<secret>` comma-separated: the first encrypts, every one
    # decrypts (a ciphertext carries its key id), so a new key can be put first and old ones kept.
    data_keys: str = "1:linli-development-data-key-change-me"
    # Keys the identity-number search hash (HMAC); changing it needs every stored hash recomputed.
    search_key: str = "linli-development-search-key-change-me"

    # The API connects as a role under row-level security; migrations as a superuser of the cluster;
    # ingest and jobs as the worker role.
    database_url: str = f"postgresql+psycopg://linli_api:linli_api@{LOCAL_PG}/linli"
    worker_database_url: str = f"postgresql+psycopg://linli_worker:linli_worker@{LOCAL_PG}/linli"
    migrate_database_url: str = f"postgresql+psycopg://postgres@{LOCAL_PG}/linli"
    # Optional: the API role on a read replica; GET/HEAD requests run there (see `db.engine_kind`).
    database_read_url: str | None = None
    api_role_password: str = "linli_api"
    worker_role_password: str = "linli_worker"
    db_pool_size: int = 10

    redis_url: str = "redis://127.0.0.1:56379/0"
    mqtt_url: str = "mqtt://127.0.0.1:51883"
    mqtt_admin_user: str = "linli-admin"
    mqtt_admin_password: str = "linli-admin-dev"

    # Grafana (optional): each tenant gets an organisation, a datasource on its own read-only database
    # role and one dashboard per level. `grafana_db_address` is how Grafana reaches PostgreSQL.
    grafana_url: str | None = None
    grafana_user: str = "admin"
    grafana_password: str = "admin"
    grafana_db_address: str = "127.0.0.1:55432"

    host: str = "127.0.0.1"
    port: int = 8000
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client.
    # Empty: the direct peer is the client. Sign-in rate limits key on that address, so behind an
    # ingress without this every client would share (and lock out) the ingress's address.
    forwarded_allow_ips: str = ""
    public_url: str = "http://127.0.0.1:8000"
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # Evidence files: `local` under storage_dir (one volume every API pod mounts), or `s3`, a bucket of an
    # S3-compatible store. Without keys, s3 uses boto3's credential chain (e.g. workload identity).
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: str = "var/storage"
    s3_endpoint_url: str | None = None
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    log_level: str = "INFO"
    # The deployment's local time: where the dashboards' days begin (an IANA zone name).
    time_zone: str = "Asia/Shanghai"
    # SMS (sign-in codes, notifications): a gateway taking `{phone, text}` as JSON; without one, outside
    # production, messages go to the development outbox file (`linli dev sms-outbox` prints it).
    sms_gateway_url: str | None = None
    sms_outbox: str = "var/sms-outbox.jsonl"

    # Request bodies, counted in the ASGI layer before anything parses them (linli/platform/bodylimit.py).
    # Uploads default to one attachment (LINLI_EVENTS_MAX_ATTACHMENT_BYTES) base64-encoded or as multipart.
    body_limit_ingest_bytes: int = 1024 * 1024
    body_limit_json_bytes: int = 256 * 1024
    body_limit_upload_bytes: int | None = None
    # One evidence photo (an events setting by name; the body limit of uploads derives from it).
    events_max_attachment_bytes: int = 5 * 1024 * 1024
    # `/metrics` needs `Authorization: Bearer <token>`; unset, it is open in development/test and 404
    # in production.
    metrics_token: str | None = None
    # The worker and ingest processes serve their metrics on this port (no token: keep it cluster-internal);
    # unset, they serve none. The API serves its own at `/metrics`.
    metrics_port: int | None = None
    # `linli ingest` writes its heartbeat here for the exec probes (`linli health ingest`); unset, none.
    health_file: Path | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"LINLI_TIME_ZONE {value!r} is not a time zone (e.g. Asia/Shanghai)") from exc
        return value

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("LINLI_STORAGE_BACKEND=s3 needs LINLI_S3_BUCKET")
        return self

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        """Production never runs with a development secret. LINLI_SECRET_KEY is needed everywhere; every
        other secret is needed only by some workloads (each pod gets only its own): where a workload was
        not given one it is blanked, not left at the development value, and set to a development value
        (or a URL with a development password) it is refused."""
        if self.env != "production":
            return self
        problems: list[str] = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("LINLI_SECRET_KEY must be a random value of 32+ characters")
        for name in SECRET_SETTINGS:
            if getattr(self, name) != type(self).model_fields[name].default:
                continue
            if name in self.model_fields_set:
                problems.append(f"LINLI_{name.upper()} is the development default")
            else:
                setattr(self, name, "")
        development_passwords = {
            type(self).model_fields[n].default for n in ("api_role_password", "worker_role_password")
        }
        for name in DATABASE_URL_SETTINGS:
            if urlsplit(getattr(self, name)).password in development_passwords:
                problems.append(f"LINLI_{name.upper()} carries a development role password")
        if self.redis_url and not urlsplit(self.redis_url).password:
            problems.append("LINLI_REDIS_URL has no password")
        if problems:
            raise ValueError(f"LINLI_ENV=production refuses to start: {'; '.join(problems)}")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
