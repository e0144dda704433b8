"""The row-level-security scope cannot be forged by a role that can run SQL.

Revision ID: 0013
Revises: 0012

`linli.scopes` is a setting any session may `set_config`. The application now also sets
`linli.scopes_sig`, an HMAC-SHA256 of `<login role>|<scopes>` under a key derived from LINLI_SECRET_KEY;
`linli_scopes()` runs as the owner, reads that key from a table nobody else may read, and returns no
scope (no rows) unless the signature matches. The policies still call it once per query (a scalar
subquery); their text is unchanged. Superuser sessions (the migrations themselves) are trusted as they
are: they bypass row-level security anyway and could read the key. The key is written by the migration
environment after every run (`linli.platform.db.store_scope_key`).
"""

from alembic import op

from linli.platform.rls import SCOPES_FUNCTION

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SIGNED_SCOPES_FUNCTION = """
create or replace function linli_scopes() returns ltree[]
language plpgsql stable parallel safe security definer set search_path = public, pg_temp as $$
declare
  scopes text := nullif(current_setting('linli.scopes', true), '');
begin
  -- '' (what a pooled connection reads after any earlier local set_config) must mean no scope, not all.
  if scopes is null then
    return null;
  end if;
  if (select rolsuper from pg_roles where rolname = session_user) then
    return scopes::ltree[];
  end if;
  -- No key stored yet: hmac() is NULL and so is the answer.
  if current_setting('linli.scopes_sig', true) = encode(
       hmac(convert_to(session_user || '|' || scopes, 'UTF8'), (select key from linli_scope_key), 'sha256'), 'hex')
  then
    return scopes::ltree[];
  end if;
  return null;
end $$
"""


def upgrade() -> None:
    op.execute("reset role")
    op.execute("create extension if not exists pgcrypto")
    op.execute("set role linli_owner")
    op.execute(
        """
        create table linli_scope_key (
          id int constraint pk_linli_scope_key primary key constraint ck_linli_scope_key_single check (id = 1),
          key bytea not null
        )"""
    )
    # The owner's default privileges would hand it to the application roles.
    op.execute("revoke all on linli_scope_key from public, linli_api, linli_worker")
    op.execute(SIGNED_SCOPES_FUNCTION)


def downgrade() -> None:
    op.execute("set role linli_owner")
    op.execute(SCOPES_FUNCTION.replace("stable parallel safe", "stable parallel safe security invoker"))
    op.execute("drop table linli_scope_key")
