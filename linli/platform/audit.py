"""The audit log: every mutation, append-only, hash-chained per tenant.

Rows are appended only through `linli_audit_append` (a reviewed SECURITY DEFINER function); the API and
worker roles may read within their scopes but never insert, update or delete directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import Principal
from linli.platform.db import scopes_literal
from linli.platform.logging import request_id_var

SECRET_WORDS = ("password", "secret", "token")
EMAIL_WORDS = ("email",)
PERSONAL_WORDS = (
    "phone",
    "mobile",
    "id_number",
    "id_no",
    "id_card",
    "idcard",
    "address",
    "birth",
    "real_name",
    "full_name",
    "display_name",
    "plate_number",
    "license_plate",
)


def _kind(key: str) -> str | None:
    """What kind of personal data a field name announces (`admin_email`, `contact_phone`, ...)."""
    k = key.lower()
    if any(w in k for w in SECRET_WORDS):
        return "secret"
    if any(w in k for w in EMAIL_WORDS):
        return "email"
    if any(w in k for w in PERSONAL_WORDS):
        return "personal"
    return None


def mask_value(key: str, value: Any) -> Any:
    kind = _kind(key)
    if kind is None or value is None or isinstance(value, bool):
        return value
    if kind == "secret":
        return "***"
    if isinstance(value, dict):
        return {k: mask_value(key, v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(key, v) for v in value]
    s = str(value)
    if kind == "email" and "@" in s:
        local, _, domain = s.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(s) >= 7:
        return s[:3] + "*" * (len(s) - 7) + s[-4:]
    return "*" * len(s)


def mask(data: Any) -> Any:
    """Mask personal data anywhere in a JSON-like structure before it is written to the audit log:
    secrets become ***, e-mails a***@domain, phone numbers and the like 138****0001."""
    if isinstance(data, dict):
        return {k: mask_value(k, v) if _kind(str(k)) else mask(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask(v) for v in data]
    return data


@asynccontextmanager
async def bundled(session: AsyncSession) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect the entries recorded inside the block instead of appending them, so that one compound
    operation (onboarding a tenant) is one audit entry that lists its steps."""
    steps: list[dict[str, Any]] = []
    previous = session.info.get("audit_bundle")
    session.info["audit_bundle"] = steps
    try:
        yield steps
    finally:
        if previous is None:
            session.info.pop("audit_bundle", None)
        else:
            session.info["audit_bundle"] = previous


def chain_for(node_path: str) -> str:
    """One chain per tenant: the community (or, above it, the street or district) the path lies in."""
    labels = node_path.split(".")
    return ".".join(labels[:3])


async def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: Any,
    node_path: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> int:
    bundle: list[dict[str, Any]] | None = session.info.get("audit_bundle")
    if bundle is not None:
        bundle.append({"action": action, "object_type": object_type, "object_id": object_id, "after": mask(after)})
        return 0
    result = await session.execute(
        text(
            "select linli_audit_append(text2ltree(:chain), text2ltree(:path), :actor_id, :actor_role, :action, "
            ":object_type, :object_id, cast(:before as jsonb), cast(:after as jsonb), :request_id)"
        ),
        {
            "chain": chain_for(node_path),
            "path": node_path,
            "actor_id": str(actor.id) if actor else actor_label or "system",
            "actor_role": actor.actor_role if actor else "system",
            "action": action,
            "object_type": object_type,
            "object_id": None if object_id is None else str(object_id),
            "before": None if before is None else json.dumps(mask(before), default=str, ensure_ascii=False),
            "after": None if after is None else json.dumps(mask(after), default=str, ensure_ascii=False),
            "request_id": request_id_var.get(),
        },
    )
    return int(result.scalar_one())


@dataclass
class ChainProblem:
    chain: str
    seq: int
    problem: str


@dataclass
class Verification:
    rows: int
    chains: dict[str, int]  # rows read per chain
    problems: list[ChainProblem]

    def first_problem(self, chain: str) -> ChainProblem | None:
        """The chain's first broken entry (lowest sequence number), or None when it is intact."""
        found = [p for p in self.problems if p.chain == chain]
        return min(found, key=lambda p: p.seq) if found else None


VERIFY_SQL = text(
    """
    select chain::text as chain, seq, hash, prev_hash,
      linli_audit_hash(prev_hash, chain, seq, node_path, at, actor_id, actor_role, action, object_type, object_id,
                       before, after, request_id) as recomputed,
      lag(hash) over w as previous_hash, lag(seq) over w as previous_seq
    from audit_log
    where cast(:scopes as ltree[]) is null or chain <@ any (cast(:scopes as ltree[]))
    window w as (partition by chain order by seq)
    order by chain, seq
    """
)
ALL_HEADS_SQL = text("select chain::text, seq, hash from audit_heads")
# The API role may not read `audit_heads`: this function gives it the heads inside its own scopes only.
HEADS_IN_SCOPES_SQL = text("select chain, seq, hash from linli_audit_heads(cast(:scopes as ltree[]))")


async def verify(session: AsyncSession, *, scopes: Sequence[str] | None = None) -> Verification:
    """Recompute the chains (every chain, or those lying inside `scopes`); report altered rows, broken
    links and missing rows (including at the end)."""
    scope_array = None if scopes is None else scopes_literal(scopes)
    problems: list[ChainProblem] = []
    last: dict[str, tuple[int, str]] = {}
    chains: dict[str, int] = {}
    for row in (await session.execute(VERIFY_SQL, {"scopes": scope_array})).mappings():
        chain, seq = row["chain"], row["seq"]
        chains[chain] = chains.get(chain, 0) + 1
        expected_seq = (row["previous_seq"] or 0) + 1
        if seq != expected_seq:
            problems.append(ChainProblem(chain, expected_seq, f"rows {expected_seq}..{seq - 1} are missing"))
        if row["recomputed"] != row["hash"]:
            problems.append(ChainProblem(chain, seq, "row content does not match its hash (altered)"))
        if row["previous_hash"] is not None and row["prev_hash"] != row["previous_hash"]:
            problems.append(ChainProblem(chain, seq, "link to the previous row is broken"))
        if row["previous_hash"] is None and seq == 1 and row["prev_hash"] != "0" * 64:
            problems.append(ChainProblem(chain, seq, "first row does not start the chain"))
        last[chain] = (seq, row["hash"])
    heads_sql = ALL_HEADS_SQL if scopes is None else HEADS_IN_SCOPES_SQL
    for chain, seq, head_hash in await session.execute(heads_sql, {"scopes": scope_array}):
        chains.setdefault(chain, 0)
        have = last.get(chain)
        if have is None or have[0] != seq or have[1] != head_hash:
            problems.append(ChainProblem(chain, seq, "the newest rows of the chain are missing or altered"))
    return Verification(rows=sum(chains.values()), chains=chains, problems=problems)


async def verify_for(session: AsyncSession, *, actor: Principal) -> Verification:
    """Verify the chains inside the caller's audit-reading scopes (a chain is a tenant: a scope below a
    community holds no whole chain, so it verifies none)."""
    return await verify(session, scopes=actor.scopes_for("audit", "read"))


ENTRIES_SQL = text(
    """
    select id, chain::text, seq, node_path::text, at, actor_id, actor_role, action, object_type, object_id,
           before, after, request_id, hash
    from audit_log
    where node_path <@ any (cast(:scopes as ltree[]))
      and (cast(:after_id as bigint) is null or id < :after_id)
      and (cast(:action as text) is null or action = :action)
      and (cast(:object_type as text) is null or object_type = :object_type)
      and (cast(:actor_id as text) is null or actor_id = :actor_id)
      and (cast(:within as ltree) is null or node_path <@ cast(:within as ltree))
      and (cast(:since as timestamptz) is null or at >= :since)
      and (cast(:until as timestamptz) is null or at < :until)
    order by id desc limit :limit
    """
)


@dataclass(frozen=True)
class EntryFilters:
    action: str | None = None
    object_type: str | None = None
    actor_id: str | None = None
    within: str | None = None  # a node path: its subtree
    since: datetime | None = None
    until: datetime | None = None


async def entries(
    session: AsyncSession,
    *,
    actor: Principal,
    permission: tuple[str, str],
    filters: EntryFilters | None = None,
    after_id: int | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """The newest entries first, under the caller's grants that carry `permission` (audit read or export)."""
    rows = await session.execute(
        ENTRIES_SQL,
        {
            "scopes": scopes_literal(actor.scopes_for(*permission)),
            "after_id": after_id,
            **asdict(filters or EntryFilters()),
            "limit": limit,
        },
    )
    return [dict(r) for r in rows.mappings()]


async def export(
    session: AsyncSession, *, actor: Principal, filters: EntryFilters | None = None, limit: int
) -> list[dict[str, Any]]:
    """The entries of an audit export (newest first, under the caller's grants that may export the log),
    itself recorded as one `audit.export` entry."""
    rows = await entries(session, actor=actor, permission=("audit", "export"), filters=filters, limit=limit)
    await record(
        session,
        actor=actor,
        action="audit.export",
        object_type="audit_log",
        object_id=None,
        node_path=(actor.scopes_for("audit", "export") or actor.scopes)[0],
        after={"rows": len(rows), "filters": {k: v for k, v in asdict(filters or EntryFilters()).items() if v}},
    )
    return rows
