"""The API reads telemetry through one reviewed function, never with the worker role.

Revision ID: 0017
Revises: 0016

Telemetry and its rollups stay without any privilege for `linli_api` (row-level security does not reach
TimescaleDB chunks). The API used to open a worker-role session to read a device's series after it had
checked the device was visible, so every API pod needed the worker role's URL. Now
`linli_device_telemetry` (SECURITY DEFINER, owned by the tables' owner) returns the series of one device
and metric in a window, raw or from the hourly or daily rollup, and only if the device is visible in the
caller's signed scopes; otherwise no rows. Only `linli_api` may execute it.
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

FUNCTION = "linli_device_telemetry(bigint, integer, text, timestamptz, timestamptz, integer)"

# Columns qualified throughout: the output columns (ts, value, min, max, n) are PL/pgSQL variables too.
DEFINITION = """
create function linli_device_telemetry(p_device_id bigint, p_metric_id integer, p_resolution text,
    p_start timestamptz, p_end timestamptz, p_limit integer)
returns table (ts timestamptz, value double precision, min double precision, max double precision, n integer)
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  -- A device outside the caller's scopes has no readings, as far as the caller can tell. (The owner is
  -- under the FORCEd policy on devices too; the condition says it here, where the review reads it.)
  if not exists (select 1 from devices d where d.id = p_device_id and d.node_path <@ any (linli_scopes())) then
    return;
  end if;
  if p_resolution = 'raw' then
    return query
      select t.ts, t.value, null::double precision, null::double precision, null::integer from telemetry t
      where t.device_id = p_device_id and t.metric_id = p_metric_id and t.ts >= p_start and t.ts < p_end
      order by t.ts limit p_limit;
  elsif p_resolution = '1h' then
    return query
      select r.bucket, r.avg, r.min, r.max, r.n from telemetry_1h r
      where r.device_id = p_device_id and r.metric_id = p_metric_id and r.bucket >= p_start and r.bucket < p_end
      order by r.bucket limit p_limit;
  elsif p_resolution = '1d' then
    return query
      select r.bucket, r.avg, r.min, r.max, r.n from telemetry_1d r
      where r.device_id = p_device_id and r.metric_id = p_metric_id and r.bucket >= p_start and r.bucket < p_end
      order by r.bucket limit p_limit;
  else
    raise exception 'resolution is raw, 1h or 1d, not %', p_resolution using errcode = '22023';
  end if;
end $$
"""


def upgrade() -> None:
    op.execute("set role linli_owner")
    op.execute(DEFINITION)
    op.execute(f"revoke all on function {FUNCTION} from public")
    op.execute(f"grant execute on function {FUNCTION} to linli_api")


def downgrade() -> None:
    op.execute("set role linli_owner")
    op.execute(f"drop function {FUNCTION}")
