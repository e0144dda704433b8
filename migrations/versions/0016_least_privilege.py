"""Least privilege: SECURITY DEFINER functions answer only inside the caller's scopes, and the API role
holds on the tables without row-level security only what the code uses.

Revision ID: 0016
Revises: 0015

Every table without RLS was readable and writable by `linli_api` through the default privileges of
0001: users with their password hashes, refresh and user tokens, login attempts, notification
preferences. Now `linli_api` reads users without `password_hash` (a generated `has_password` says
whether one is set), verifies a password through two functions that never return the hash and sets
one only by redeeming an invitation or reset token; it keeps on the token tables only insert, select
and (refresh tokens) marking one used.

The functions that see across scopes (owned by linli_auth) now refuse paths outside the caller's
scopes: dispatch, handler unit members, the tenant around a path, webhooks for a path, whether a device
type is defined at a path, and the audit chain (it must be the chain of the entry's own path).
`linli_principal_grants` and `linli_tenant_by_slug` run before any scope exists (they compute it, or
serve public slugs) and `linli_api_key_lookup` is rewritten elsewhere. A downgrade gives the
privileges back and keeps the scoped functions (they only answer less).
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

SCOPES = "linli_scopes()"

# Privileges of the API role on the tables that have no row-level security (tenant-independent data).
USER_COLUMNS = "id, email, phone, display_name, locale, home_node_path, is_active, created_at, has_password"
API_GRANTS = (
    f"grant select ({USER_COLUMNS}) on users to linli_api",
    # A new account may come with a password (the hash of a person not yet known); an existing one not.
    "grant insert (email, phone, display_name, password_hash, locale, home_node_path, is_active) on users to linli_api",
    "grant update (display_name) on users to linli_api",
    "grant select, insert, update (used_at) on refresh_tokens to linli_api",
    "grant select, insert on user_tokens to linli_api",
    "grant select, insert, delete on login_attempts to linli_api",
    "grant select, insert, update (enabled, min_severity, updated_at) on notification_preferences to linli_api",
)
NARROWED = ("users", "refresh_tokens", "user_tokens", "login_attempts", "notification_preferences")

PASSWORD_BY_TOKEN_FN = "linli_set_password_by_token(uuid, text)"
PASSWORD_TEMPLATE_FN = "linli_password_template(uuid)"
PASSWORD_MATCHES_FN = "linli_password_matches(uuid, text)"

FUNCTIONS = {
    # The entry's chain is the one `audit.chain_for` derives from its path (at most three labels).
    "linli_audit_append(ltree, ltree, text, text, text, text, text, jsonb, jsonb, text)": f"""
        create or replace function linli_audit_append(p_chain ltree, p_node_path ltree, p_actor_id text,
            p_actor_role text, p_action text, p_object_type text, p_object_id text, p_before jsonb, p_after jsonb,
            p_request_id text)
        returns bigint language plpgsql security definer set search_path = public, pg_temp as $$
        declare
          v_seq bigint; v_prev text; v_at timestamptz := now(); v_hash text; v_id bigint;
        begin
          -- Only paths inside the caller's own scopes may be written to, and only to their own chain.
          if not (p_node_path <@ any ({SCOPES})) then
            raise exception 'audit entry outside the caller''s scope' using errcode = '42501';
          end if;
          if p_chain is distinct from subltree(p_node_path, 0, least(3, nlevel(p_node_path))) then
            raise exception 'audit entry for % does not belong to chain %', p_node_path, p_chain
              using errcode = '42501';
          end if;
          insert into audit_heads (chain, seq, hash) values (p_chain, 0, repeat('0', 64))
            on conflict (chain) do nothing;
          select seq, hash into v_seq, v_prev from audit_heads where chain = p_chain for update;
          v_seq := v_seq + 1;
          v_hash := linli_audit_hash(v_prev, p_chain, v_seq, p_node_path, v_at, p_actor_id, p_actor_role,
                                     p_action, p_object_type, p_object_id, p_before, p_after, p_request_id);
          insert into audit_log (chain, seq, node_path, at, actor_id, actor_role, action, object_type, object_id,
                                 before, after, request_id, prev_hash, hash)
            values (p_chain, v_seq, p_node_path, v_at, p_actor_id, p_actor_role, p_action, p_object_type,
                    p_object_id, p_before, p_after, p_request_id, v_prev, v_hash)
            returning id into v_id;
          update audit_heads set seq = v_seq, hash = v_hash where chain = p_chain;
          return v_id;
        end $$""",
    "linli_event_dispatch(text, text, text, ltree)": f"""
        create or replace function linli_event_dispatch(p_item text, p_line text, p_kind text, p_node_path ltree)
        returns table (handler_unit_id bigint, name text, kind text, node_id bigint, node_path ltree,
                       unrouted boolean)
        language sql stable security definer set search_path = public, pg_temp as $$
          with rule as (
            select u.id, u.name, u.kind, u.node_id, u.node_path, false as unrouted
            from routing_rules r join handler_units u on u.id = r.handler_unit_id and u.active
            where p_node_path <@ r.node_path and (r.item_code = p_item or r.line_code = p_line)
            order by nlevel(r.node_path) desc, (r.item_code is not null) desc, r.priority desc, r.id
            limit 1
          ), by_kind as (
            select u.id, u.name, u.kind, u.node_id, u.node_path, false as unrouted
            from handler_units u
            where u.active and u.kind = p_kind and p_node_path <@ u.node_path
            order by nlevel(u.node_path) desc, u.id
            limit 1
          ), fallback as (
            select u.id, u.name, u.kind, u.node_id, u.node_path, true as unrouted
            from handler_units u
            where u.active and u.kind = 'community_staff' and p_node_path <@ u.node_path
            order by nlevel(u.node_path) desc, u.id
            limit 1
          )
          select c.id, c.name, c.kind::text, c.node_id, c.node_path, c.unrouted from (
            select 1 as rank, * from rule union all select 2, * from by_kind union all select 3, * from fallback
          ) c where p_node_path <@ any ({SCOPES}) order by c.rank limit 1
        $$""",
    # A unit inside the caller's scopes or above them (dispatch and escalation pick units on the path
    # up from an event the caller sees); never a unit beside them.
    "linli_handler_unit_members(bigint)": f"""
        create or replace function linli_handler_unit_members(p_unit_id bigint)
        returns table (user_id uuid)
        language sql stable security definer set search_path = public, pg_temp as $$
          select m.user_id from handler_unit_members m join handler_units u on u.id = m.handler_unit_id
          where m.handler_unit_id = p_unit_id
            and (u.node_path <@ any ({SCOPES}) or u.node_path @> any ({SCOPES}))
        $$""",
    # Outside the caller's scopes: no tenant, and not writable.
    "linli_tenant_for_path(ltree)": f"""
        create or replace function linli_tenant_for_path(p_path ltree)
        returns table (tenant_id bigint, writable boolean)
        language sql stable security definer set search_path = public, pg_temp as $$
          select
            (select id from tenants where p_path <@ node_path and status <> 'offboarded'
               and p_path <@ any ({SCOPES})
             order by nlevel(node_path) desc limit 1),
            coalesce(p_path <@ any ({SCOPES}), false)
              and not exists (select 1 from tenants where p_path <@ node_path and status <> 'active')
        $$""",
    "linli_webhooks_for_path(ltree)": f"""
        create or replace function linli_webhooks_for_path(p_path ltree)
        returns table (id bigint, url text)
        language sql stable security definer set search_path = public, pg_temp as $$
          select w.id, w.url from webhook_endpoints w
          where w.active and p_path <@ w.node_path and p_path <@ any ({SCOPES})
        $$""",
    "linli_device_type_defined(text, ltree)": f"""
        create or replace function linli_device_type_defined(p_code text, p_path ltree) returns boolean
        language sql stable security definer set search_path = public, pg_temp as $$
          -- The catalog is public; a tenant's own types are told only about paths inside the scopes.
          select exists (select 1 from device_types where code = p_code)
              or (coalesce(p_path <@ any ({SCOPES}), false)
                  and exists (select 1 from tenant_device_types where code = p_code and p_path <@ node_path))
        $$""",
    # Passwords are checked without the hash leaving the database: the first function hands out the
    # stored hash with its digest masked (algorithm, cost and salt are not secret), the application
    # hashes the attempt with them, the second compares. An offline attack needs the digests.
    # The only way the API role sets a password: with an invitation or reset token it has just checked,
    # which this marks used. An invitation never replaces an existing password.
    PASSWORD_BY_TOKEN_FN: """
        create or replace function linli_set_password_by_token(p_token_id uuid, p_password_hash text)
        returns boolean language plpgsql security definer set search_path = public, pg_temp as $$
        declare
          v_user uuid; v_purpose text;
        begin
          update user_tokens set used_at = now()
            where id = p_token_id and used_at is null and expires_at > now()
            returning user_id, purpose into v_user, v_purpose;
          if v_user is null then
            return false;
          end if;
          update users set password_hash = p_password_hash
            where id = v_user and is_active and (v_purpose = 'reset' or password_hash is null);
          return found;
        end $$""",
    PASSWORD_TEMPLATE_FN: """
        create or replace function linli_password_template(p_user_id uuid) returns text
        language sql stable security definer set search_path = public, pg_temp as $$
          select regexp_replace(password_hash, '[^$]+$', repeat('A', length(substring(password_hash from '[^$]+$'))))
          from users where id = p_user_id and is_active and password_hash is not null
        $$""",
    PASSWORD_MATCHES_FN: """
        create or replace function linli_password_matches(p_user_id uuid, p_candidate text) returns boolean
        language sql stable security definer set search_path = public, pg_temp as $$
          -- Digests compared, so the time the comparison takes says nothing about the stored hash.
          select coalesce((select sha256(convert_to(password_hash, 'UTF8')) = sha256(convert_to(p_candidate, 'UTF8'))
                           from users where id = p_user_id and is_active), false)
        $$""",
}


def upgrade() -> None:
    op.execute("set role linli_owner")
    op.execute(
        "alter table users add column has_password boolean generated always as (password_hash is not null) stored"
    )
    op.execute("reset role")
    for table in NARROWED:
        op.execute(f"revoke all on {table} from linli_api")
    for statement in API_GRANTS:
        op.execute(statement)
    # Sequences of tables the API role cannot insert into (nextval would burn ids: metric ids are smallint).
    op.execute("revoke all on sequence audit_log_id_seq, dead_letters_id_seq, device_metrics_id_seq from linli_api")
    op.execute("grant select, update (used_at) on user_tokens to linli_auth")
    op.execute("grant update (password_hash) on users to linli_auth")
    # Nobody but the definer functions reads password hashes.
    op.execute("revoke select on users from linli_worker")
    op.execute(f"grant select ({USER_COLUMNS}) on users to linli_worker")
    for signature, definition in FUNCTIONS.items():
        op.execute(definition)
        op.execute(f"alter function {signature} owner to linli_auth")
        op.execute(f"revoke all on function {signature} from public")
        op.execute(f"grant execute on function {signature} to linli_api, linli_worker")
    # TimescaleDB ships a SECURITY DEFINER procedure (owned by the superuser) executable by everyone;
    # Linli has no continuous aggregates whose watermark it would move.
    op.execute(
        """do $$ begin
          if to_regprocedure('_timescaledb_functions.cagg_migrate_update_watermark(integer)') is not null then
            revoke execute on procedure _timescaledb_functions.cagg_migrate_update_watermark(integer) from public;
          end if;
        end $$"""
    )
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    for signature in (PASSWORD_BY_TOKEN_FN, PASSWORD_TEMPLATE_FN, PASSWORD_MATCHES_FN):
        op.execute(f"drop function if exists {signature}")
    for table in NARROWED:
        op.execute(f"grant select, insert, update, delete on {table} to linli_api")
    op.execute("grant select on users to linli_worker")
    op.execute(
        "grant usage, select on sequence audit_log_id_seq, dead_letters_id_seq, device_metrics_id_seq to linli_api"
    )
    op.execute("alter table users drop column has_password")
    op.execute("set role linli_owner")
