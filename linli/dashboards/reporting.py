"""Per-tenant reporting schemas: what a tenant's Grafana may read, and nothing else.

RLS is not applied to TimescaleDB chunks and Grafana cannot set per-query scopes, so a tenant's
read-only login role never touches tenant tables: it reads `security_barrier` views in its own schema,
owned by `linli_reporting` and pinned to the tenant (by its id, so moving nodes never makes them stale),
and the KPI functions (events, devices, care) that refuse any path outside the tenant.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.platform.settings import get_settings

KPI_COLUMNS = (
    "total bigint, open bigint, resolved bigint, cancelled bigint, avg_accept_s double precision, "
    "p90_accept_s double precision, avg_resolve_s double precision, p90_resolve_s double precision, "
    "on_time_rate double precision, resolution_rate double precision, ratings bigint, "
    "avg_rating double precision, satisfaction_rate double precision"
)
IOT_COLUMNS = "devices bigint, online bigint, offline bigint, open_alarms bigint, critical_alarms bigint"
CARE_COLUMNS = (
    "category text, people bigint, open_not_seen bigint, visits_due bigint, visits_overdue bigint, "
    "visits_done bigint, visits_on_time bigint"
)
PATROL_COLUMNS = "done bigint, late bigint, open bigint, missed bigint, on_time_rate double precision"


@dataclass(frozen=True)
class TenantReporting:
    tenant_id: int
    slug: str
    schema: str
    role: str
    password: str


def reporting_for(tenant_id: int, slug: str) -> TenantReporting:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", slug):
        raise ValueError(f"invalid tenant slug {slug!r}")
    ident = slug.replace("-", "_")
    # Derived, not stored: provisioning again yields the same password, and rotating the secret rotates it.
    password = hmac.new(get_settings().secret_key.encode(), f"grafana:{slug}".encode(), "sha256").hexdigest()[:40]
    return TenantReporting(tenant_id, slug, f"grafana_{ident}", f"linli_grafana_{ident}", password)


def _statements(r: TenantReporting) -> list[str]:
    tenant_path = f"(select node_path from public.tenants where id = {r.tenant_id})"
    s = r.schema
    return [
        f"""do $$ begin
              if not exists (select 1 from pg_roles where rolname = '{r.role}') then
                create role {r.role} login nosuperuser nobypassrls noinherit;
              end if;
            end $$""",
        f"alter role {r.role} password '{r.password}'",
        f"alter role {r.role} set search_path = {s}, public",  # its own views first; ltree lives in public
        f"create schema if not exists {s} authorization linli_reporting",
        "set local role linli_reporting",
        f"""create or replace view {s}.nodes with (security_barrier) as
            select id, parent_id, level, name, name_en, node_path, nlevel(node_path) as depth
            from public.nodes where node_path <@ {tenant_path} and archived_at is null""",
        f"""create or replace view {s}.events with (security_barrier) as
            select id, node_path, item_code, line_code, severity, source, status, created_at, accepted_at,
                   resolved_at, closed_at, accept_by, resolve_by, escalation_level
            from public.events where tenant_id = {r.tenant_id}""",
        f"""create or replace view {s}.devices with (security_barrier) as
            select id, node_path, type_code, status, last_seen_at from public.devices
            where tenant_id = {r.tenant_id} and revoked_at is null""",
        f"""create or replace view {s}.alarms with (security_barrier) as
            select id, device_id, node_path, rule_code, severity, state, value, opened_at, cleared_at
            from public.alarms where tenant_id = {r.tenant_id}""",
        f"""create or replace view {s}.telemetry_1h with (security_barrier) as
            select t.device_id, m.code as metric, t.bucket, t.n, t.min, t.max, t.avg
            from public.telemetry_1h t join public.device_metrics m on m.id = t.metric_id
            where t.tenant_id = {r.tenant_id}""",
        f"""create or replace function {s}.event_kpis(p_path ltree, p_from timestamptz, p_to timestamptz)
            returns table ({KPI_COLUMNS})
            language sql stable security definer set search_path = public, pg_temp as $$
              select k.* from public.linli_event_kpis(p_path, p_from, p_to) k where p_path <@ {tenant_path}
            $$""",
        f"""create or replace function {s}.iot_summary(p_path ltree)
            returns table ({IOT_COLUMNS})
            language sql stable security definer set search_path = public, pg_temp as $$
              select k.* from public.linli_iot_summary(p_path) k where p_path <@ {tenant_path}
            $$""",
        f"""create or replace function {s}.care_overview(p_path ltree, p_from timestamptz, p_to timestamptz)
            returns table ({CARE_COLUMNS})
            language sql stable security definer set search_path = public, pg_temp as $$
              select k.* from public.linli_care_overview(p_path, p_from, p_to) k where p_path <@ {tenant_path}
            $$""",
        f"""create or replace function {s}.patrol_overview(p_path ltree, p_from timestamptz, p_to timestamptz)
            returns table ({PATROL_COLUMNS})
            language sql stable security definer set search_path = public, pg_temp as $$
              select k.* from public.linli_patrol_overview(p_path, p_from, p_to) k where p_path <@ {tenant_path}
            $$""",
        "reset role",
        f"revoke all on schema {s} from public",
        f"revoke all on all functions in schema {s} from public",
        f"grant usage on schema {s} to {r.role}",
        f"grant select on all tables in schema {s} to {r.role}",
        f"grant execute on all functions in schema {s} to {r.role}",
    ]


async def provision_reporting(conn: AsyncConnection, r: TenantReporting) -> None:
    """Create or refresh the tenant's schema, views, functions and login role (idempotent). Needs a
    connection allowed to create roles: the administrative (migration) URL."""
    for statement in _statements(r):
        await conn.execute(text(statement))
