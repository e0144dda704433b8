"""Event sources bound to API keys, per-integration signing secrets with replay protection, external
references namespaced by who sent them, and an API-key lookup that never hands out the secret hash.

Revision ID: 0014
Revises: 0013

- `api_keys.source`: the event source a key was created for (`iot_alarm`, `ai_video`, `robot`, `hotline`,
  `upstream`); system sources are accepted only from such keys or the platform's own paths.
- `api_keys.signing_secret`: an AI video key's signing secret, Fernet-encrypted with a key derived from
  `LINLI_SECRET_KEY` (the API role reads only ciphertext); it is not the secret the request carries.
- `detection_signatures`: signatures already accepted, for ±5 minutes; reached only through
  `linli_claim_signature` (the API role has no privilege on the table).
- `events.raised_by`: `system`, `api_key:<id>` or `user:<id>`; an external reference is unique per
  (tenant, source, raised_by), so nobody can pre-empt `alarm:<id>` of the IoT path.
- `linli_api_key_lookup(prefix, secret_hash)`: compares inside, returns the key only on a match (never the
  hash) and stamps `last_used_at` only then.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LOOKUP_OLD = "linli_api_key_lookup(text)"
LOOKUP = "linli_api_key_lookup(text, text)"
CLAIM = "linli_claim_signature(uuid, text, timestamptz)"


def upgrade() -> None:
    op.execute("set role linli_owner")
    op.execute("alter table api_keys add column source varchar(32), add column signing_secret text")
    op.execute(
        "alter table api_keys add constraint ck_api_keys_source "
        "check (source in ('iot_alarm', 'ai_video', 'robot', 'hotline', 'upstream'))"
    )

    op.execute("alter table events add column raised_by text")
    op.execute(
        "update events set raised_by = case when attrs ? 'alarm_id' then 'system' "
        "when reporter_id is not null then 'user:' || reporter_id::text else 'legacy' end"
    )
    op.execute("alter table events alter column raised_by set not null")
    op.execute("drop index uq_events_tenant_source_external_ref")
    op.execute(
        "create unique index uq_events_tenant_source_raised_by_external_ref on events "
        "(coalesce(tenant_id, 0), source, raised_by, external_ref) where external_ref is not null"
    )

    op.execute(
        """
        create table detection_signatures (
          api_key_id uuid not null constraint fk_detection_signatures_api_key_id_api_keys
            references api_keys(id) on delete cascade,
          signature varchar(64) not null,
          expires_at timestamptz not null,
          constraint pk_detection_signatures primary key (api_key_id, signature)
        )"""
    )
    op.execute("revoke all on detection_signatures from linli_api, linli_worker")
    op.execute(
        """
        create function linli_claim_signature(p_api_key_id uuid, p_signature text, p_expires_at timestamptz)
        returns boolean language plpgsql security definer set search_path = public, pg_temp as $$
        declare
          v_claimed int;
        begin
          -- Only for a key inside the caller's scopes (this function sees across scopes).
          if not exists (select 1 from api_keys where id = p_api_key_id and node_path <@ any (linli_scopes())) then
            raise exception 'api key outside the caller''s scope' using errcode = '42501';
          end if;
          delete from detection_signatures where api_key_id = p_api_key_id and expires_at < now();
          insert into detection_signatures (api_key_id, signature, expires_at)
            values (p_api_key_id, p_signature, p_expires_at)
            on conflict do nothing;
          get diagnostics v_claimed = row_count;
          return v_claimed = 1;
        end $$"""
    )
    op.execute(
        """
        create function linli_api_key_lookup(p_prefix text, p_secret_hash text)
        returns table (id uuid, roles text[], node_id bigint, node_path ltree, name text, source text)
        language sql security definer set search_path = public, pg_temp as $$
          update api_keys set last_used_at = now()
          where prefix = p_prefix and secret_hash = p_secret_hash and revoked_at is null
          returning id, roles, node_id, node_path, name, source::text
        $$"""
    )
    op.execute("reset role")
    op.execute(f"drop function {LOOKUP_OLD}")
    op.execute("grant select, insert, delete on detection_signatures to linli_auth")
    for fn in (LOOKUP, CLAIM):
        op.execute(f"alter function {fn} owner to linli_auth")
        op.execute(f"revoke all on function {fn} from public")
    op.execute(f"grant execute on function {LOOKUP} to linli_api, linli_worker")
    op.execute(f"grant execute on function {CLAIM} to linli_api")
    op.execute("set role linli_owner")


def downgrade() -> None:
    op.execute("reset role")
    op.execute(f"drop function if exists {CLAIM}")
    op.execute(f"drop function if exists {LOOKUP}")
    op.execute(
        """
        create function linli_api_key_lookup(p_prefix text)
        returns table (id uuid, secret_hash text, roles text[], node_id bigint, node_path ltree, name text)
        language sql security definer set search_path = public, pg_temp as $$
          update api_keys set last_used_at = now() where prefix = p_prefix and revoked_at is null
          returning id, secret_hash, roles, node_id, node_path, name
        $$"""
    )
    op.execute(f"alter function {LOOKUP_OLD} owner to linli_auth")
    op.execute(f"revoke all on function {LOOKUP_OLD} from public")
    op.execute(f"grant execute on function {LOOKUP_OLD} to linli_api, linli_worker")
    op.execute("set role linli_owner")
    op.execute("drop table if exists detection_signatures")
    op.execute("drop index if exists uq_events_tenant_source_raised_by_external_ref")
    op.execute(
        "create unique index uq_events_tenant_source_external_ref on events "
        "(coalesce(tenant_id, 0), source, external_ref) where external_ref is not null"
    )
    op.execute("alter table events drop column raised_by")
    op.execute("alter table api_keys drop constraint ck_api_keys_source")
    op.execute("alter table api_keys drop column signing_secret, drop column source")
