"""Dashboards: the IoT summary KPI function and the reporting role behind each tenant's Grafana views.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REPORTED_TABLES = (
    "nodes",
    "tenants",
    "events",
    "event_ratings",
    "event_items",
    "devices",
    "alarms",
    "telemetry_1h",
    "device_metrics",
)


def upgrade() -> None:
    op.execute("set role linli_owner")
    # Device and alarm counts for a subtree; security invoker, so the caller's RLS applies (as for
    # linli_event_kpis): the API and the tenant's Grafana views share one definition.
    op.execute(
        """
        create function linli_iot_summary(p_path ltree)
        returns table (devices bigint, online bigint, offline bigint, open_alarms bigint, critical_alarms bigint)
        language sql stable as $$
          select
            (select count(*) from devices d where d.node_path <@ p_path and d.revoked_at is null),
            (select count(*) from devices d where d.node_path <@ p_path and d.status = 'online'),
            (select count(*) from devices d where d.node_path <@ p_path and d.status = 'offline'),
            (select count(*) from alarms a where a.node_path <@ p_path and a.state <> 'cleared'),
            (select count(*) from alarms a where a.node_path <@ p_path and a.state <> 'cleared'
               and a.severity = 'critical')
        $$"""
    )
    op.execute("reset role")
    # Owns the per-tenant Grafana schemas (views pinned to one tenant's path, functions that check
    # it). It never logs in; each tenant's Grafana login role may read only its own schema.
    op.execute(
        """do $$ begin
          if not exists (select 1 from pg_roles where rolname = 'linli_reporting') then
            create role linli_reporting nologin nosuperuser bypassrls;
          end if;
        end $$"""
    )
    op.execute(
        "do $$ begin execute format('grant create on database %I to linli_reporting', current_database()); end $$"
    )
    op.execute("grant usage on schema public to linli_reporting")
    op.execute(f"grant select on {', '.join(REPORTED_TABLES)} to linli_reporting")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    op.execute(f"revoke select on {', '.join(REPORTED_TABLES)} from linli_reporting")
    op.execute("drop function if exists linli_iot_summary(ltree)")
    op.execute("set role linli_owner")
