"""Audit chain verification from the API: the heads of the chains inside the caller's scopes.

Revision ID: 0023
Revises: 0022

The API role may not read `audit_heads` (it would learn other tenants' chains); verifying a chain needs
its head to notice rows removed from its end. `linli_audit_heads(scopes)` returns the heads of the chains
lying inside both the given scopes and the caller's own signed scopes, nothing else.
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

AUDIT_HEADS = "linli_audit_heads(ltree[])"


def upgrade() -> None:
    op.execute(
        """
        create function linli_audit_heads(p_scopes ltree[])
        returns table (chain text, seq bigint, hash varchar)
        language sql stable security definer set search_path = public, pg_temp as $$
          select h.chain::text, h.seq, h.hash from audit_heads h
          where h.chain <@ any (p_scopes) and h.chain <@ any (linli_scopes())
        $$"""
    )
    op.execute("reset role")
    op.execute(f"alter function {AUDIT_HEADS} owner to linli_auth")
    op.execute(f"revoke all on function {AUDIT_HEADS} from public")
    op.execute(f"grant execute on function {AUDIT_HEADS} to linli_api")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    op.execute(f"drop function if exists {AUDIT_HEADS}")
    op.execute("set role linli_owner")
