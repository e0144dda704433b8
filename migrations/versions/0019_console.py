"""The console's reads at scale: daily event statistics per node, device counts per node, who accepted an
event, and an index for polling changed events.

Revision ID: 0019
Revises: 0018

The command screen shows a node's KPIs and each child's for a window. Computed from the events
themselves that is a scan of every event of the window under the node (a district's 30 days, some
15 000 rows, took 400 ms, and each child another scan), and counting a community's 400 000 devices
took a second. So:

- `event_day_rollup`: per node and local day (every ancestor of an event's node gets a row), the sums
  the KPIs are made of, the counts by item, source and line, and histograms of the times to accept and
  resolve (buckets a quarter of a doubling wide, so a p90 read from them is within 10 %). Written by the
  worker (`events_rollups`), rebuilt per day from `linli_event_day_stats`, the one definition the API's
  reads of the days not yet rolled up use too (the first run after this upgrade rolls up every day). Events carry `updated_at`, indexed: the job finds the
  days that changed, and the console polls with `updated_since`.
- `node_device_counts`: devices, online and offline per node that holds devices, refreshed by the
  worker every minute (empty until its first run after this upgrade); `linli_iot_summary` (the API's and Grafana's) sums it, and counts active alarms
  through a partial index.
- `events.assignee_id`: the person who accepted the event (the console's "mine"); set again on every
  accept, cleared when the event goes back to dispatch.
"""

from alembic import op

from linli.platform.rls import enable_rls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

STATS_FUNCTION = "linli_event_day_stats(ltree, timestamptz, timestamptz, integer, integer, text)"
BUCKET_FUNCTION = "linli_duration_bucket(double precision)"
IOT_SUMMARY = """
create or replace function linli_iot_summary(p_path ltree)
returns table (devices bigint, online bigint, offline bigint, open_alarms bigint, critical_alarms bigint)
language sql stable as $$
  select
    (select coalesce(sum(c.devices), 0)::bigint from node_device_counts c where c.node_path <@ p_path),
    (select coalesce(sum(c.online), 0)::bigint from node_device_counts c where c.node_path <@ p_path),
    (select coalesce(sum(c.offline), 0)::bigint from node_device_counts c where c.node_path <@ p_path),
    (select count(*) from alarms a where a.node_path <@ p_path and a.state <> 'cleared'),
    (select count(*) from alarms a where a.node_path <@ p_path and a.state <> 'cleared'
       and a.severity = 'critical')
$$"""
OLD_IOT_SUMMARY = """
create or replace function linli_iot_summary(p_path ltree)
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


def upgrade() -> None:
    op.execute(
        "alter table events add column assignee_id uuid constraint fk_events_assignee_id_users references users(id)"
    )
    op.execute("create index ix_events_assignee_id on events (assignee_id) where assignee_id is not null")
    op.execute("create index ix_events_updated_at on events (updated_at)")
    # Who holds an event that is being handled now: the last accept by a person.
    op.execute(
        """
        update events e set assignee_id = u.id
        from (select distinct on (t.event_id) t.event_id, t.actor_id from event_timeline t
              where t.action = 'accept' order by t.event_id, t.id desc) a
        join users u on u.id::text = a.actor_id
        where a.event_id = e.id and e.status in ('accepted', 'in_progress', 'resolved', 'closed')
        """
    )

    op.execute(
        f"""
        create function {BUCKET_FUNCTION} returns integer
        language sql immutable parallel safe as $$
          -- Buckets a quarter of a doubling wide: k holds [2^(k/4), 2^((k+1)/4)) seconds (0 also below 1 s).
          select floor(4 * ln(greatest($1, 1)) / ln(2))::integer
        $$"""
    )
    # Statistics of the events under p_path created in [p_from, p_to), per local day (p_tz) and per
    # ancestor of each event's node between levels p_min_level and p_max_level (1 = district). Security
    # invoker: the caller's row-level security applies.
    op.execute(
        """
        create function linli_event_day_stats(p_path ltree, p_from timestamptz, p_to timestamptz,
                                              p_min_level integer, p_max_level integer, p_tz text)
        returns table (node_path ltree, day date, total integer, open integer, resolved integer, cancelled integer,
          accepted integer, accept_s double precision, resolved_n integer, resolve_s double precision, on_time integer,
          ratings integer, rating_sum integer, satisfied integer,
          items jsonb, sources jsonb, lines jsonb, accept_hist jsonb, resolve_hist jsonb)
        -- No JIT: the lateral series makes the row estimate large, and compiling costs more than running.
        language sql stable set jit = off as $$
          with ev as materialized (
            select subpath(e.node_path, 0, l) as key, (e.created_at at time zone p_tz)::date as day,
                   e.item_code, e.source, e.line_code, e.status,
                   extract(epoch from e.accepted_at - e.created_at)::double precision as accept_s,
                   extract(epoch from e.resolved_at - e.created_at)::double precision as resolve_s,
                   e.resolved_at <= e.resolve_by as on_time, r.score
            from events e
            left join event_ratings r on r.event_id = e.id
            cross join lateral generate_series(p_min_level, least(p_max_level, nlevel(e.node_path))) l
            where e.node_path <@ p_path and e.created_at >= p_from and e.created_at < p_to
          ), totals as (
            select key, day, count(*)::integer as total,
                   (count(*) filter (where status not in ('resolved', 'closed', 'cancelled')))::integer as open,
                   (count(*) filter (where status in ('resolved', 'closed')))::integer as resolved,
                   (count(*) filter (where status = 'cancelled'))::integer as cancelled,
                   count(accept_s)::integer as accepted, coalesce(sum(accept_s), 0) as accept_s,
                   count(resolve_s)::integer as resolved_n, coalesce(sum(resolve_s), 0) as resolve_s,
                   (count(*) filter (where on_time))::integer as on_time,
                   count(score)::integer as ratings, coalesce(sum(score), 0)::integer as rating_sum,
                   (count(*) filter (where score >= 4))::integer as satisfied
            from ev group by key, day
          ), counted as (
            select key, day, 'item' as dimension, item_code as k, count(*) as n from ev group by key, day, item_code
            union all
            select key, day, 'source', source, count(*) from ev group by key, day, source
            union all
            select key, day, 'line', line_code, count(*) from ev group by key, day, line_code
            union all
            select key, day, 'accept', linli_duration_bucket(accept_s)::text, count(*) from ev
            where accept_s is not null group by key, day, linli_duration_bucket(accept_s)
            union all
            select key, day, 'resolve', linli_duration_bucket(resolve_s)::text, count(*) from ev
            where resolve_s is not null group by key, day, linli_duration_bucket(resolve_s)
          ), maps as (
            select key, day,
                   jsonb_object_agg(k, n) filter (where dimension = 'item') as items,
                   jsonb_object_agg(k, n) filter (where dimension = 'source') as sources,
                   jsonb_object_agg(k, n) filter (where dimension = 'line') as lines,
                   jsonb_object_agg(k, n) filter (where dimension = 'accept') as accept_hist,
                   jsonb_object_agg(k, n) filter (where dimension = 'resolve') as resolve_hist
            from counted group by key, day
          )
          select t.key, t.day, t.total, t.open, t.resolved, t.cancelled, t.accepted, t.accept_s, t.resolved_n,
                 t.resolve_s, t.on_time, t.ratings, t.rating_sum, t.satisfied, m.items, m.sources, m.lines,
                 coalesce(m.accept_hist, '{}'), coalesce(m.resolve_hist, '{}')
          from totals t join maps m on m.key = t.key and m.day = t.day
        $$"""
    )
    op.execute(
        """
        create table event_day_rollup (
          node_id bigint not null constraint fk_event_day_rollup_node_id_nodes references nodes(id),
          node_path ltree not null,
          day date not null,
          total integer not null, open integer not null, resolved integer not null, cancelled integer not null,
          accepted integer not null, accept_s double precision not null,
          resolved_n integer not null, resolve_s double precision not null, on_time integer not null,
          ratings integer not null, rating_sum integer not null, satisfied integer not null,
          items jsonb not null, sources jsonb not null, lines jsonb not null,
          accept_hist jsonb not null, resolve_hist jsonb not null,
          refreshed_at timestamptz not null default now(),
          -- By id: row-level security keeps a query's ltree conditions (not leakproof) out of index scans.
          constraint pk_event_day_rollup primary key (node_id, day)
        )"""
    )
    op.execute("create index ix_event_day_rollup_node_path_gist on event_day_rollup using gist (node_path)")
    op.execute("create index ix_event_day_rollup_refreshed_at on event_day_rollup (refreshed_at)")

    op.execute(
        """
        create table node_device_counts (
          node_id bigint constraint pk_node_device_counts primary key
            constraint fk_node_device_counts_node_id_nodes references nodes(id),
          node_path ltree not null,
          devices integer not null,
          online integer not null,
          offline integer not null,
          refreshed_at timestamptz not null default now()
        )"""
    )
    op.execute("create index ix_node_device_counts_node_path_gist on node_device_counts using gist (node_path)")
    op.execute("create index ix_alarms_active_node_path on alarms using gist (node_path) where state <> 'cleared'")
    for table in ("event_day_rollup", "node_device_counts"):
        for stmt in enable_rls(table):
            op.execute(stmt)
        # Written by the worker's jobs only; the API reads them.
        op.execute(f"revoke insert, update, delete, truncate, references, trigger on {table} from linli_api")
    op.execute(IOT_SUMMARY)
    op.execute("reset role")
    # Each tenant's Grafana sums the same device counts (through its pinned iot_summary).
    op.execute("grant select on node_device_counts to linli_reporting")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute(OLD_IOT_SUMMARY)
    op.execute("drop index if exists ix_alarms_active_node_path")
    op.execute("drop table if exists node_device_counts")
    op.execute("drop table if exists event_day_rollup")
    op.execute(f"drop function if exists {STATS_FUNCTION}")
    op.execute(f"drop function if exists {BUCKET_FUNCTION}")
    op.execute("drop index if exists ix_events_updated_at")
    op.execute("alter table events drop column if exists assignee_id")
