"""Patrol rounds counted in one SQL function, `linli_patrol_overview`, which the API's overview and each
tenant's Grafana KPIs both read (on-time round rate next to the care figures).

Revision ID: 0027
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

OVERVIEW = "linli_patrol_overview(ltree, timestamptz, timestamptz)"
READ = "patrol_rounds, patrol_checkpoints, patrol_checkins"


def upgrade() -> None:
    op.execute("set role linli_owner")
    op.execute(
        """
        create function linli_patrol_overview(p_path ltree, p_from timestamptz, p_to timestamptz)
        returns table (done bigint, late bigint, open bigint, missed bigint, on_time_rate double precision)
        language sql stable as $$
          -- Rounds due in [p_from, p_to) under p_path (null: every round the caller's RLS shows); missed counts
          -- the checkpoints left unchecked in rounds that ended unfinished; the rate is over rounds that are over.
          select count(*) filter (where r.status = 'done'),
            count(*) filter (where r.status = 'late'),
            count(*) filter (where r.status = 'open'),
            coalesce(sum((select count(*) from patrol_checkpoints c where c.plan_id = r.plan_id)
              - (select count(*) from patrol_checkins k where k.round_id = r.id))
              filter (where r.status = 'late' and r.completed_at is null), 0)::bigint,
            (count(*) filter (where r.status = 'done'))::double precision
              / nullif(count(*) filter (where r.status in ('done', 'late')), 0)
          from patrol_rounds r
          where (p_path is null or r.node_path <@ p_path) and r.due_at >= p_from and r.due_at < p_to
        $$"""
    )
    op.execute("reset role")
    op.execute(f"revoke all on function {OVERVIEW} from public")
    op.execute(f"grant execute on function {OVERVIEW} to linli_api, linli_worker, linli_reporting")
    # Each tenant's Grafana counts through its pinned patrol_overview (linli_reporting owns the wrapper).
    op.execute(f"grant select on {READ} to linli_reporting")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    op.execute(f"revoke select on {READ} from linli_reporting")
    op.execute(f"drop function if exists {OVERVIEW}")
    op.execute("set role linli_owner")
