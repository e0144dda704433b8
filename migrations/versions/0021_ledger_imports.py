"""Ledger imports run as jobs: the uploaded file waits here for the worker, the report stays.

Revision ID: 0021
Revises: 0020

- `ledger_imports`: one row per uploaded ledger (a tenant row under FORCEd row-level security, scoped
  by the node imported into); `data` holds the file until the worker has read it, `report` what it found.
"""

from alembic import op

from linli.platform.rls import enable_rls

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("set role linli_owner")
    op.execute(
        """
        create table ledger_imports (
          id uuid constraint pk_ledger_imports primary key,
          node_id bigint not null constraint fk_ledger_imports_node_id_nodes references nodes(id),
          node_path ltree not null,
          filename text not null,
          dry_run boolean not null,
          mapping jsonb not null default '{}',
          status varchar(16) not null default 'queued'
            constraint ck_ledger_imports_status check (status in ('queued', 'running', 'done', 'failed')),
          data bytea,
          report jsonb,
          error text,
          created_by uuid,
          created_at timestamptz not null default now(),
          finished_at timestamptz
        )"""
    )
    op.execute("create index ix_ledger_imports_node_path_gist on ledger_imports using gist (node_path)")
    for stmt in enable_rls("ledger_imports"):
        op.execute(stmt)
    op.execute("reset role")


def downgrade() -> None:
    op.execute("drop table if exists ledger_imports cascade")
