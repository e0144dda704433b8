"""SQL that puts a tenant-owned table under row-level security (used by migrations and checked by tests)."""

from __future__ import annotations

SCOPES_FUNCTION = """
create or replace function linli_scopes() returns ltree[]
language sql stable parallel safe as $$
  -- '' (what a pooled connection reads after any earlier local set_config) must mean no scope, not all.
  select nullif(current_setting('linli.scopes', true), '')::ltree[]
$$
"""

POLICY_NAME = "tenant_scope"
# The caller's scopes as policies use them: a scalar subquery, so PostgreSQL reads and parses the setting
# once per query (an InitPlan) instead of once per row (about 2 µs a row: 3 s to scan 1.2 M people).
SCOPES = "(select linli_scopes())::ltree[]"


def enable_rls(table: str, column: str = "node_path") -> list[str]:
    """Statements that FORCE row-level security on `table`, visible only inside the caller's scopes."""
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        f"create policy {POLICY_NAME} on {table} for all "
        f"using ({column} <@ any ({SCOPES})) with check ({column} <@ any ({SCOPES}))",
    ]
