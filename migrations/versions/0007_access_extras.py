"""Access extras: the tenants around a path (read-only state and inherited settings across scopes),
and grants only for active accounts.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHAIN_FN = "linli_tenant_chain(ltree)"


def upgrade() -> None:
    op.execute("set role linli_owner")
    # A community tenant inherits its street tenant's settings and is read-only while the street is
    # suspended, but a community-level caller cannot see the street's tenant row under RLS. This
    # reviewed function returns the tenants around a path, only for a path inside the caller's scopes.
    op.execute(
        """
        create function linli_tenant_chain(p_path ltree)
        returns table (id bigint, node_path ltree, slug text, status text, settings jsonb)
        language sql stable security definer set search_path = public, pg_temp as $$
          select t.id, t.node_path, t.slug::text, t.status::text, t.settings from tenants t
          where t.node_path @> p_path and p_path <@ any (linli_scopes())
          order by nlevel(t.node_path)
        $$"""
    )
    # A deactivated account keeps no grants, even with an access token that has not expired yet.
    op.execute(
        """
        create or replace function linli_principal_grants(p_user_id uuid)
        returns table (role text, node_id bigint, node_path ltree)
        language sql stable security definer set search_path = public, pg_temp as $$
          select g.role, g.node_id, g.node_path from role_grants g
          join nodes n on n.id = g.node_id and n.archived_at is null
          join users u on u.id = g.user_id and u.is_active
          where g.user_id = p_user_id
        $$"""
    )
    op.execute("reset role")
    op.execute(f"alter function {CHAIN_FN} owner to linli_auth")
    op.execute(f"revoke all on function {CHAIN_FN} from public")
    op.execute(f"grant execute on function {CHAIN_FN} to linli_api, linli_worker")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    op.execute(f"drop function if exists {CHAIN_FN}")
    op.execute(
        """
        create or replace function linli_principal_grants(p_user_id uuid)
        returns table (role text, node_id bigint, node_path ltree)
        language sql stable security definer set search_path = public, pg_temp as $$
          select g.role, g.node_id, g.node_path from role_grants g
          join nodes n on n.id = g.node_id and n.archived_at is null
          where g.user_id = p_user_id
        $$"""
    )
    op.execute("set role linli_owner")
