"""Metric ids wide enough and capped per tenant; gateways flagged at registration.

Revision ID: 0015
Revises: 0014

`device_metrics.id` was a smallint, and every device-type change burned ids through
`INSERT ... ON CONFLICT DO NOTHING` (a sequence value per code, new or not): one tenant could exhaust the
platform's 32 767 ids. The id becomes an integer everywhere it is stored (the dictionary, the telemetry
hypertable, telemetry_latest and the rollups); `linli_register_metrics` inserts only codes not yet
known, records which tenant introduced each code and refuses (inserting nothing) when a tenant would
introduce more than its limit.

Cost of widening the hypertable: PostgreSQL rewrites every retained chunk and rebuilds its index under
an exclusive lock (ingest waits; the broker keeps the unacknowledged messages). Measured on the 2-core
development machine: 1.5 M rows in 2.1 s (about 0.7 M rows/s). Rows do not grow: the smallint sat in
alignment padding before the float8, so the table and index keep their size. On a store holding a
month of raw data plan a maintenance window of (retained rows / 0.7 M) seconds.

Devices get `gateway`: a device may publish readings for other devices of its tenant only if its
registration or its type (`gateway: true`) says it is a gateway.
"""

from alembic import op
from sqlalchemy import text

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

METRIC_TABLES = ("device_metrics", "telemetry", "telemetry_latest", "telemetry_1h", "telemetry_1d")
OLD_FN = "linli_register_metrics(text[])"
NEW_FN = "linli_register_metrics(bigint, text[], integer)"
# Views over these tables (the tenants' Grafana schemas) block a column type change: kept and recreated.
DEPENDENT_VIEWS = """
select distinct c.oid::regclass::text as name, pg_get_viewdef(c.oid) as body,
       array_to_string(c.reloptions, ', ') as options, pg_get_userbyid(c.relowner) as owner,
       array(select format('grant %s on %s to %s', a.privilege_type, c.oid::regclass,
                           case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end)
             from aclexplode(c.relacl) a where a.grantee <> c.relowner) as grants
from pg_depend d join pg_rewrite r on r.oid = d.objid join pg_class c on c.oid = r.ev_class
where d.classid = 'pg_rewrite'::regclass and c.relkind = 'v' and c.oid <> d.refobjid
  and d.refobjid in (select oid from pg_class where relnamespace = 'public'::regnamespace
                     and relname = any(:tables))
"""


def _retype(column_type: str) -> None:
    views = op.get_bind().execute(text(DEPENDENT_VIEWS), {"tables": list(METRIC_TABLES)}).all()
    for view in views:
        op.execute(f"drop view {view.name}")
    op.execute(f"alter table device_metrics alter column id type {column_type}")
    for table in METRIC_TABLES[1:]:
        op.execute(f"alter table {table} alter column metric_id type {column_type}")
    for view in views:
        options = f" with ({view.options})" if view.options else ""
        op.execute(f"create view {view.name}{options} as {view.body}")
        op.execute(f"alter view {view.name} owner to {view.owner}")
        for grant in view.grants:
            op.execute(grant)


def upgrade() -> None:
    op.execute("reset role")
    _retype("integer")
    op.execute("set role linli_owner")
    op.execute(
        "alter table device_metrics add column tenant_id bigint "
        "constraint fk_device_metrics_tenant_id_tenants references tenants(id)"
    )
    op.execute("create index ix_device_metrics_tenant_id on device_metrics (tenant_id)")
    op.execute("alter table devices add column gateway boolean not null default false")
    op.execute("reset role")
    # Codes tenants introduced before: credited to the first tenant type that reports them (as the
    # superuser: tenant_device_types is under FORCEd row-level security, its owner would see no rows).
    op.execute(
        """
        update device_metrics m set tenant_id = f.tenant_id from (
          select distinct on (x.code) x.code, t.tenant_id from tenant_device_types t,
            lateral (select e->>'code' as code from jsonb_array_elements(t.spec->'metrics') e) x
          order by x.code, t.id) f
        where f.code = m.code and not exists (
          select 1 from device_types d, jsonb_array_elements(d.spec->'metrics') e where e->>'code' = m.code)"""
    )
    op.execute(f"drop function {OLD_FN}")
    op.execute(
        """
        create function linli_register_metrics(p_tenant_id bigint, p_codes text[], p_limit integer)
        returns table (introduced integer, missing integer)
        language plpgsql security definer set search_path = public, pg_temp as $$
        declare
          v_missing text[];
          v_introduced integer;
        begin
          if not exists (select 1 from tenants where id = p_tenant_id and node_path <@ any (linli_scopes())) then
            raise exception 'tenant outside the caller''s scope' using errcode = '42501';
          end if;
          -- Only codes nobody registered yet: a sequence value is spent only on a code actually added.
          select coalesce(array_agg(distinct c order by c), '{}') into v_missing from unnest(p_codes) c
          where not exists (select 1 from device_metrics m where m.code = c);
          if cardinality(v_missing) = 0 then
            return query select 0, 0;
            return;
          end if;
          -- One registration per tenant at a time, so two concurrent changes cannot both pass the limit.
          perform pg_advisory_xact_lock(4243, (p_tenant_id % 2147483647)::int);
          select count(*) into v_introduced from device_metrics where tenant_id = p_tenant_id;
          if v_introduced + cardinality(v_missing) <= p_limit then
            insert into device_metrics (code, tenant_id) select c, p_tenant_id from unnest(v_missing) c
            on conflict (code) do nothing;
          end if;
          return query select v_introduced, cardinality(v_missing);
        end $$"""
    )
    op.execute(f"alter function {NEW_FN} owner to linli_auth")
    op.execute(f"revoke all on function {NEW_FN} from public")
    op.execute(f"grant execute on function {NEW_FN} to linli_api, linli_worker")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    op.execute(f"drop function {NEW_FN}")
    op.execute(
        """
        create function linli_register_metrics(p_codes text[]) returns void
        language sql security definer set search_path = public, pg_temp as $$
          insert into device_metrics (code) select distinct c from unnest(p_codes) c order by c
          on conflict (code) do nothing
        $$"""
    )
    op.execute(f"alter function {OLD_FN} owner to linli_auth")
    op.execute(f"revoke all on function {OLD_FN} from public")
    op.execute(f"grant execute on function {OLD_FN} to linli_api, linli_worker")
    op.execute("alter table devices drop column gateway")
    op.execute("alter table device_metrics drop column tenant_id")
    # Refuses (out of range) once ids beyond the smallint range were given out.
    _retype("smallint")
    op.execute("set role linli_owner")
