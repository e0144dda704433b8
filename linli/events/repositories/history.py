"""Demo history: days of finished events written in bulk, consistent with the state machine (status,
timestamps, timeline, deadlines, escalations, evidence, ratings). System scope only (the demo seed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text

from linli.events.repositories.base import Repository

# Who raised the history: its events are found (and never generated twice) by this sender.
DEMO_SENDER = "demo"
# The staging tables of one run, dropped at its end (a run may follow another in the same transaction).
TEMP_TABLES = (
    "demo_communities",
    "demo_places",
    "demo_mix",
    "demo_plan",
    "demo_draws",
    "demo_times",
    "demo_routes",
    "demo_escalations",
)

COMMUNITIES = """
create temp table demo_communities as
select c.id, c.code, c.name, c.node_path,
       coalesce(w.weight, 1.0) as weight,
       (select t.id from tenants t where c.node_path <@ t.node_path and t.status = 'active'
        order by nlevel(t.node_path) desc limit 1) as tenant_id
from nodes c
left join unnest(cast(:names as text[]), cast(:weights as float8[])) w(name, weight) on w.name = c.name
where c.level = 'community' and c.archived_at is null
  and exists (select 1 from tenants t where c.node_path <@ t.node_path and t.status = 'active')
"""

PLACES = """
create temp table demo_places as
select e.id, e.node_path, e.name, c.id as community_id,
       greatest(1, coalesce((e.attrs ->> 'buildings')::int, 3)) as buildings,
       row_number() over (partition by c.id order by e.code) - 1 as k,
       count(*) over (partition by c.id) as n
from demo_communities c
join nodes e on e.node_path <@ c.node_path and e.level = 'estate' and e.archived_at is null
"""

# (source, item) pairs the taxonomy allows, each with its share of all events: [lo, hi) of a draw.
MIX = """
create temp table demo_mix as
with s(source, weight) as (select * from unnest(cast(:sources as text[]), cast(:source_weights as float8[]))),
w(item_code, weight) as (select * from unnest(cast(:items as text[]), cast(:item_weights as float8[]))),
pairs as (
  select s.source, i.code as item_code,
         s.weight * coalesce(w.weight, 1.0) / sum(coalesce(w.weight, 1.0)) over (partition by s.source) as p
  from s join event_items i on s.source = any(i.sources) left join w on w.item_code = i.code
)
select source, item_code,
       sum(p) over (order by source, item_code) - p as lo, sum(p) over (order by source, item_code) as hi
from pairs
"""

# Community-days without history yet: a second run adds nothing, a later one only the days since.
PLAN = """
create temp table demo_plan as
select c.id as community_id, c.code, d.day,
       round(:per_day * c.weight * (0.75 + 0.5 * random()))::int as n
from demo_communities c
cross join (select g::date as day from generate_series(cast(:first_day as date), cast(:last_day as date),
                                                       interval '1 day') g) d
where (c.code, to_char(d.day, 'YYYYMMDD')) not in (
  select split_part(external_ref, ':', 1), split_part(external_ref, ':', 2) from events
  where raised_by = :sender and external_ref is not null
)
"""

# Each event with its random draws: place, (source, item), and the seconds from its creation to each
# step. Urgent items (resolve SLA within an hour: garbage overflow, falls, smoke...) are handled in 2 to
# 34 minutes, 18 on average; the others within a share of their SLA (capped at two days).
DRAWS = """
create temp table demo_draws as
with raw as (
  select p.community_id, p.code as community_code, p.day, g.n as seq,
         cast(p.day as timestamp) at time zone :tz + make_interval(secs => case when random() < 0.15
           then random() * 86400 else (7 + 15 * (random() + random()) / 2) * 3600 end) as created_at,
         random() * (select max(hi) from demo_mix) as r_mix, random() as r_place
  from demo_plan p cross join lateral generate_series(1, p.n) g(n)
), picked as (
  select r.*, m.source, i.code as item_code, i.line_code, i.name as item_name, i.severity, i.handler,
         i.accept_minutes, i.resolve_minutes, i.evidence_required,
         i.resolve_minutes <= 60 as urgent,
         pl.id as estate_id, pl.node_path as estate_path, pl.name as estate_name,
         1 + floor(random() * pl.buildings)::int as building, 1 + floor(random() * 2)::int as unit
  from raw r
  join demo_mix m on r.r_mix >= m.lo and r.r_mix < m.hi
  join event_items i on i.code = m.item_code
  join demo_places pl on pl.community_id = r.community_id and pl.k = floor(r.r_place * pl.n)
  where r.created_at <= cast(:now as timestamptz) - interval '1 hour'
)
select p.*, gen_random_uuid() as id, gen_random_uuid() as attachment_id,
       case when p.urgent then p.accept_minutes * 60 * (0.1 + 0.6 * random())
            else least(p.accept_minutes, 240) * 60 * (0.05 + 0.9 * random()) end as accept_s,
       case when p.urgent then (2 + 16 * (random() + random())) * 60
            else least(p.resolve_minutes, 2880) * 60 * (0.05 + 0.52 * (random() + random())) end as resolve_s,
       p.source = 'ai_video' and random() < 0.02 as cancelled,
       random() < 0.9 as closes, 600 + 86400 * random() * random() as close_after_s,
       p.source in ('resident_report', 'hotline') and random() < 0.7 as rates, 300 + 7200 * random() as rate_after_s,
       random() as r_score, random() < 0.5 as starts,
       p.source in ('resident_report', 'hotline', 'ai_video') and random() < 0.04 as duplicated, random() as r_dup
from picked p
"""

# Absolute times, each left empty when it lies after `now`. Still-open events are kept only where
# their pending deadline lies more than a day ahead (the deadline sweep has nothing to do on them).
TIMES = """
create temp table demo_times as
with d as (
  select d.*,
         case when d.handler = 'urban_mgmt' then c.id else d.estate_id end as node_id,
         case when d.handler = 'urban_mgmt' then c.node_path else d.estate_path end as node_path,
         c.tenant_id, c.name as community_name,
         greatest(d.accept_s + 60, d.resolve_s) as done_s,
         d.created_at + make_interval(mins => d.accept_minutes) as accept_by,
         d.created_at + make_interval(mins => d.resolve_minutes) as resolve_by
  from demo_draws d join demo_communities c on c.id = d.community_id
), t as (
  select d.*,
         case when d.cancelled then d.created_at + make_interval(secs => d.accept_s / 2) end as cancelled_at,
         case when not d.cancelled then d.created_at + make_interval(secs => d.accept_s) end as accept_at,
         case when not d.cancelled then d.created_at + make_interval(secs => d.done_s) end as resolve_at
  from d
), u as (
  select t.*,
         case when t.accept_at <= cast(:now as timestamptz) then t.accept_at end as accepted_at,
         case when t.starts and t.done_s - t.accept_s > 600
              and t.accept_at + (t.resolve_at - t.accept_at) / 5 <= cast(:now as timestamptz)
              then t.accept_at + (t.resolve_at - t.accept_at) / 5 end as started_at,
         case when t.resolve_at <= cast(:now as timestamptz) then t.resolve_at end as resolved_at,
         case when t.closes and t.resolve_at + make_interval(secs => t.close_after_s) <= cast(:now as timestamptz)
              then t.resolve_at + make_interval(secs => t.close_after_s) end as closed_at
  from t
)
select u.*,
       case when u.rates and u.closed_at + make_interval(secs => u.rate_after_s) <= cast(:now as timestamptz)
            then u.closed_at + make_interval(secs => u.rate_after_s) end as rated_at,
       case when u.r_score < 0.01 then 1 when u.r_score < 0.04 then 2 when u.r_score < 0.1 then 3
            when u.r_score < 0.35 then 4 else 5 end as score,
       case when u.duplicated and not u.cancelled
            then u.created_at + make_interval(secs => u.r_dup * least(u.accept_s, 1800)) end as duplicate_at,
       coalesce(u.resolved_at > u.resolve_by, false) as late,
       case when u.cancelled then 'cancelled' when u.closed_at is not null then 'closed'
            when u.resolved_at is not null then 'resolved' when u.started_at is not null then 'in_progress'
            else 'accepted' end as status,
       case u.source when 'ai_video' then format('AI摄像头 CAM-%s-%s', u.estate_id, u.building)
                     when 'iot_alarm' then format('物联感知设备 %s栋', u.building)
                     when 'resident_report' then format('居民 1%s****%s', 30 + u.seq % 60, 1000 + u.seq % 9000)
                     when 'staff_patrol' then '网格员巡查'
                     when 'hotline' then '12345热线'
                     when 'robot' then '巡检机器人'
                     else u.source end as reporter_label
from u
where u.cancelled or u.resolved_at is not null
   or (u.accepted_at is not null and u.resolve_by > cast(:now as timestamptz) + interval '1 day')
"""

ROUTES = """
create temp table demo_routes as
select x.node_id, x.item_code, r.handler_unit_id, r.name, r.kind, r.unrouted
from (select distinct node_id, node_path, item_code, line_code, handler from demo_times) x
cross join lateral linli_event_dispatch(x.item_code, x.line_code, x.handler, x.node_path) r
"""

ESCALATIONS = """
create temp table demo_escalations as
select t.id, p.id as node_id, p.name, p.level
from demo_times t
cross join lateral (
  select n.id, n.name, n.level from nodes n
  where n.node_path @> t.node_path and n.node_path <> t.node_path
    and (t.severity <> 'critical' or n.level not in ('grid', 'estate'))
  order by nlevel(n.node_path) desc limit 1
) p
where t.late
"""

EVENTS = """
insert into events (id, tenant_id, node_id, node_path, item_code, line_code, severity, source, status, description,
                    location, place_key, reporter_label, handler_unit_id, handler_name, handler_kind, unrouted,
                    escalation_level, escalation_node_id, accept_by, resolve_by, duplicate_count, external_ref,
                    raised_by, attrs, created_at, dispatched_at, accepted_at, started_at, resolved_at, closed_at,
                    cancelled_at, updated_at, version)
select t.id, t.tenant_id, t.node_id, t.node_path, t.item_code, t.line_code, t.severity, t.source, t.status,
       case when t.node_id = t.estate_id then format('%s %s栋：%s', t.estate_name, t.building, t.item_name)
            else format('%s辖区道路：%s', t.community_name, t.item_name) end,
       case when t.node_id = t.estate_id
            then jsonb_build_object('building', t.building || '栋', 'unit', t.unit || '单元')
            else jsonb_build_object('address', t.community_name || '辖区道路') end,
       case when t.node_id = t.estate_id then format('%s栋/%s单元', t.building, t.unit) else '' end,
       t.reporter_label, r.handler_unit_id, r.name, r.kind, coalesce(r.unrouted, false),
       case when x.id is null then 0 else 1 end, x.node_id, t.accept_by, t.resolve_by,
       case when t.duplicate_at is null then 0 else 1 end,
       format('%s:%s:%s', t.community_code, to_char(t.day, 'YYYYMMDD'), t.seq), :sender,
       jsonb_build_object('demo', true), t.created_at, t.created_at, t.accepted_at, t.started_at, t.resolved_at,
       t.closed_at, t.cancelled_at,
       greatest(t.created_at, t.accepted_at, t.started_at, t.resolved_at, t.closed_at, t.cancelled_at,
                t.duplicate_at, case when t.late then t.resolve_by end),
       1 + (t.accepted_at is not null)::int + (t.started_at is not null)::int + (t.resolved_at is not null)::int
         + (t.closed_at is not null)::int + (t.cancelled_at is not null)::int + (t.duplicate_at is not null)::int
         + t.late::int
from demo_times t
left join demo_routes r on r.node_id = t.node_id and r.item_code = t.item_code
left join demo_escalations x on x.id = t.id
"""

# Evidence for every resolved item that requires it: one shared demo photo.
ATTACHMENTS = """
insert into event_attachments (id, event_id, node_path, storage_key, filename, content_type, size_bytes, sha256,
                               uploaded_by, created_at)
select t.attachment_id, t.id, t.node_path, :key, 'after.png', 'image/png', :size, :sha256, :sender,
       t.resolved_at - interval '1 minute'
from demo_times t where t.evidence_required and t.resolved_at is not null
"""

TIMELINE = """
insert into event_timeline (event_id, node_path, at, actor_label, action, from_status, to_status, note,
                            attachments, data)
select s.event_id, s.node_path, s.at, s.actor_label, s.action, s.from_status, s.to_status, s.note,
       s.attachments, s.data
from (
  select t.id as event_id, t.node_path, t.created_at as at, 0 as step, t.reporter_label as actor_label,
         'created' as action, null as from_status, 'new' as to_status, t.item_name as note,
         '{}'::uuid[] as attachments, '{}'::jsonb as data
  from demo_times t
  union all
  select t.id, t.node_path, t.created_at, 1, 'dispatch', 'dispatched', 'new', 'dispatched', r.name, '{}',
         jsonb_build_object('handler_unit_id', r.handler_unit_id, 'unrouted', r.unrouted)
  from demo_times t join demo_routes r on r.node_id = t.node_id and r.item_code = t.item_code
  union all
  select t.id, t.node_path, t.duplicate_at, 2, '居民', 'duplicate', null, null, 'also reported by 居民', '{}',
         jsonb_build_object('source', 'resident_report', 'external_ref', null, 'description', t.item_name)
  from demo_times t where t.duplicate_at is not null
  union all
  select t.id, t.node_path, t.cancelled_at, 3, '社区工作人员', 'cancel', 'dispatched', 'cancelled', 'AI误报',
         '{}', '{}'
  from demo_times t where t.cancelled_at is not null
  union all
  select t.id, t.node_path, t.accepted_at, 4, r.name, 'accept', 'dispatched', 'accepted', null, '{}', '{}'
  from demo_times t join demo_routes r on r.node_id = t.node_id and r.item_code = t.item_code
  where t.accepted_at is not null
  union all
  select t.id, t.node_path, t.started_at, 5, r.name, 'start', 'accepted', 'in_progress', null, '{}', '{}'
  from demo_times t join demo_routes r on r.node_id = t.node_id and r.item_code = t.item_code
  where t.started_at is not null
  union all
  select t.id, t.node_path, t.resolve_by, 6, 'deadline', 'escalated', null, null,
         format('not resolved by %s; escalated to %s', t.resolve_by, x.name), '{}',
         jsonb_build_object('kind', 'resolve', 'level', 1, 'node_id', x.node_id, 'node_level', x.level)
  from demo_times t join demo_escalations x on x.id = t.id
  union all
  select t.id, t.node_path, t.resolved_at, 7, r.name, 'resolve',
         case when t.started_at is null then 'accepted' else 'in_progress' end, 'resolved', '已处置',
         case when t.evidence_required then array[t.attachment_id] else '{}'::uuid[] end, '{}'
  from demo_times t join demo_routes r on r.node_id = t.node_id and r.item_code = t.item_code
  where t.resolved_at is not null
  union all
  select t.id, t.node_path, t.closed_at, 8,
         case when t.source in ('resident_report', 'hotline') then t.reporter_label else '社区工作人员' end,
         'close', 'resolved', 'closed', null, '{}', '{}'
  from demo_times t where t.closed_at is not null
  union all
  select t.id, t.node_path, t.rated_at, 9, t.reporter_label, 'rated', null, null, null, '{}',
         jsonb_build_object('score', t.score)
  from demo_times t where t.rated_at is not null
) s
order by s.event_id, s.at, s.step
"""

RATINGS = """
insert into event_ratings (event_id, node_path, rater_id, score, created_at)
select t.id, t.node_path, gen_random_uuid(), t.score, t.rated_at from demo_times t where t.rated_at is not null
"""

# Accept and resolve deadlines as the sweep would have left them; a missed resolve deadline escalated
# once, and the next level's deadline was met.
DEADLINES = """
insert into event_deadlines (event_id, node_path, kind, level, due_at, done_at, outcome, created_at)
select t.id, t.node_path, 'accept', 0, t.accept_by, coalesce(t.accepted_at, t.cancelled_at),
       case when t.cancelled then 'cancelled' else 'met' end, t.created_at
from demo_times t
union all
select t.id, t.node_path, 'resolve', 0, t.resolve_by,
       case when t.cancelled then t.cancelled_at when t.late then t.resolve_by else t.resolved_at end,
       case when t.cancelled then 'cancelled' when t.late then 'escalated'
            when t.resolved_at is not null then 'met' end,
       t.created_at
from demo_times t
union all
select t.id, t.node_path, 'resolve', 1, t.resolve_by + make_interval(mins => t.resolve_minutes), t.resolved_at,
       'met', t.resolve_by
from demo_times t where t.late
"""


@dataclass(frozen=True)
class Mix:
    """How often each source raises events, and items weighted within a source (default weight 1)."""

    sources: Mapping[str, float]
    items: Mapping[str, float]
    communities: Mapping[str, float]


@dataclass(frozen=True)
class Evidence:
    key: str
    size: int
    sha256: str


class DemoHistoryRepository(Repository):
    async def generate(
        self,
        *,
        first_day: date,
        last_day: date,
        now: datetime,
        per_day: float,
        mix: Mix,
        evidence: Evidence,
        tz: str,
    ) -> int:
        """Write the history of every community-day in [first_day, last_day] that has none yet (events
        created up to an hour before `now`); returns how many events were added."""
        run = self.session.execute
        await run(
            text(COMMUNITIES), {"names": list(mix.communities), "weights": [float(w) for w in mix.communities.values()]}
        )
        await run(text(PLACES))
        await run(
            text(MIX),
            {
                "sources": list(mix.sources),
                "source_weights": [w / sum(mix.sources.values()) for w in mix.sources.values()],
                "items": list(mix.items),
                "item_weights": [float(w) for w in mix.items.values()],
            },
        )
        await run(text(PLAN), {"per_day": per_day, "first_day": first_day, "last_day": last_day, "sender": DEMO_SENDER})
        await run(text(DRAWS), {"tz": tz, "now": now})
        await run(text(TIMES), {"now": now})
        await run(text(ROUTES))
        await run(text(ESCALATIONS))
        added = await run(text(EVENTS), {"sender": DEMO_SENDER})
        await run(
            text(ATTACHMENTS),
            {"key": evidence.key, "size": evidence.size, "sha256": evidence.sha256, "sender": DEMO_SENDER},
        )
        await run(text(TIMELINE))
        await run(text(RATINGS))
        await run(text(DEADLINES))
        await run(text(f"drop table {', '.join(TEMP_TABLES)}"))
        return int(added.rowcount)  # type: ignore[attr-defined]
