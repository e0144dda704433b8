"""Ingest workers stop waiting for each other: dirty hours become an append-only log, and
telemetry_latest leaves room on its pages for in-place (HOT) updates.

Revision ID: 0010
Revises: 0009

Two workers writing readings of the same hour upserted the same `rollup_dirty` row and the second
waited for the first's commit. Appending a row per batch takes no lock; the rollup job deletes the
rows it can see and recomputes their hours (a batch that commits later leaves its own row behind).
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("set role linli_owner")
    op.execute("alter table rollup_dirty drop constraint pk_rollup_dirty")
    op.execute("create index ix_rollup_dirty_bucket on rollup_dirty (bucket)")
    op.execute("alter table telemetry_latest set (fillfactor = 70)")


def downgrade() -> None:
    op.execute("set role linli_owner")
    op.execute("alter table telemetry_latest reset (fillfactor)")
    op.execute("drop index ix_rollup_dirty_bucket")
    op.execute("delete from rollup_dirty d using rollup_dirty e where d.bucket = e.bucket and d.ctid < e.ctid")
    op.execute("alter table rollup_dirty add constraint pk_rollup_dirty primary key (bucket)")
