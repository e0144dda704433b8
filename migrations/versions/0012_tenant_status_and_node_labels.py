"""Node labels are never reused under a parent; a tenant remembers how high up it was suspended.

Revision ID: 0012
Revises: 0011

`nodes.last_child_number` is the highest label number ever handed to a child of the node, so a node
created after another moved away never gets the moved node's old path (and with it that path's audit
entries and dead letters). It starts at the highest label of the present children and of every child
that the audit log shows moving away.

`tenants.suspended_by_depth` is the tree depth (1 = district) of the grant that suspended the tenant:
only a grant at that depth or higher reactivates it.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # As the migration superuser: nodes and audit_log are under FORCEd row-level security for their owner.
    op.execute("alter table nodes add column last_child_number integer not null default 0")
    op.execute("alter table tenants add column suspended_by_depth smallint")
    op.execute(
        """
        with labels as (
          select node_path as path from nodes
          union all
          select text2ltree(before ->> 'node_path') from audit_log
          where action = 'node.move' and before ->> 'node_path' is not null
        ), numbers as (
          select subpath(path, 0, nlevel(path) - 1) as parent_path,
                 max(substring(ltree2text(subpath(path, nlevel(path) - 1)) from 2)::integer) as last_number
          from labels where nlevel(path) > 1
          group by 1
        )
        update nodes p set last_child_number = numbers.last_number
        from numbers where p.node_path = numbers.parent_path
        """
    )


def downgrade() -> None:
    op.execute("alter table tenants drop column suspended_by_depth")
    op.execute("alter table nodes drop column last_child_number")
