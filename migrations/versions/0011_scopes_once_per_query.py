"""Row-level security reads the caller's scopes once per query.

Revision ID: 0011
Revises: 0010

Policies compared every row with `linli_scopes()`, which PostgreSQL evaluated (read the setting, parsed
it into ltree[]) row by row: about 2 µs a row, three seconds for a district-wide scan of 1.2 M people.
As a scalar subquery it is an InitPlan, evaluated once; the GiST index still serves narrow scopes.
The meaning is unchanged (no setting: NULL, no rows).
"""

from alembic import op
from sqlalchemy import text

from linli.platform.rls import SCOPES

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _rewrite(old: str, new: str) -> None:
    """Replace `old` by `new` in every policy of the public schema that has `old` (PostgreSQL's own
    spelling, as pg_policies shows it)."""
    rows = op.get_bind().execute(
        text("select tablename, policyname, qual, with_check from pg_policies where schemaname = 'public'")
    )
    for table, policy, qual, check in rows.all():
        if old not in (qual or "") + (check or ""):
            continue
        clauses = f" using ({qual.replace(old, new)})" if qual else ""
        clauses += f" with check ({check.replace(old, new)})" if check else ""
        op.execute(f'alter policy "{policy}" on "{table}"{clauses}')


def upgrade() -> None:
    op.execute("set role linli_owner")
    # Policies written before this revision (ANY (linli_scopes()), @> linli_scopes()).
    _rewrite("ANY (linli_scopes())", f"ANY ({SCOPES})")
    _rewrite("@> linli_scopes()", f"@> {SCOPES}")


def downgrade() -> None:
    op.execute("set role linli_owner")
    _rewrite("( SELECT linli_scopes() AS linli_scopes)::ltree[]", "linli_scopes()")
    _rewrite("( SELECT linli_scopes() AS linli_scopes)", "linli_scopes()")
