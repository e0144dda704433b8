"""Passes: residents issue and revoke their own, staff list and revoke any in their reach; a gate reads
the tenant's public key and revocation list to verify offline, and records passages online (each takes
one use, atomically). Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.passes import keys, token
from linli.passes.models import Pass, PassPassage
from linli.passes.permissions import PASSES_READ, PASSES_REVOKE, PASSES_VERIFY
from linli.passes.repository import PassRepository
from linli.passes.schemas import MAX_DAYS, GateCheck, PassCreate, PassOut, refused
from linli.platform import audit
from linli.platform.access import Permission, Principal, TenantRef, access_object, tenant_chain
from linli.platform.errors import BadRequest, Conflict, Forbidden, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.qr import qr_svg
from linli.residentapp.context import AppContext, acts_as_staff
from linli.tenants.service import now


def _snapshot(row: Pass) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "service": row.service_code,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "uses_allowed": row.uses_allowed,
        "uses_left": row.uses_left,
        "revoked_at": row.revoked_at,
    }


def pass_out(row: Pass, signed: str | None = None) -> PassOut:
    return PassOut(
        id=row.id,
        tenant_id=row.tenant_id,
        node_id=row.node_id,
        node_path=row.node_path,
        service=row.service_code,
        kind=row.kind,
        visitor_name=row.visitor_name,
        plate=row.plate,
        item=row.item,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        uses_allowed=row.uses_allowed,
        uses_left=row.uses_left,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        token=signed,
    )


async def signed_token(session: AsyncSession, *, row: Pass, tenant_path: str) -> str:
    key = await keys.tenant_key(session, tenant_id=row.tenant_id, tenant_path=tenant_path)
    claims = token.PassClaims(
        pass_id=row.id,
        tenant_id=row.tenant_id,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        uses=row.uses_allowed,
    )
    return token.sign(keys.private_key(key), claims)


def resident_place(ctx: AppContext) -> tuple[int, str]:
    """The node of the caller's resident grant in this app (their estate): 403 for anyone else."""
    for grant in sorted(ctx.actor.grants, key=lambda g: g.node_path):
        if grant.role == "resident" and ctx.inside(grant.node_path):
            return grant.node_id, grant.node_path
    raise Forbidden("only residents do this in the app", code="not_a_resident")


# The resident's side -------------------------------------------------------------------------------


def _check(body: PassCreate, at: datetime) -> None:
    if body.valid_until <= body.valid_from or (body.valid_until - body.valid_from).days > MAX_DAYS:
        raise Conflict(f"valid_until must follow valid_from, at most {MAX_DAYS} days later", code="bad_window")
    if body.valid_until <= at:
        raise Conflict("the pass would be over before it is issued", code="pass_in_the_past")
    if body.kind == "visitor" and not body.visitor_name:
        raise Conflict("a visitor pass names the visitor", code="visitor_name_required")
    if body.kind == "item" and not body.item:
        raise Conflict("a large-item pass names the item", code="item_required")


async def issue_pass(session: AsyncSession, *, ctx: AppContext, body: PassCreate) -> PassOut:
    ctx.app.service(body.service, kind="pass")
    node_id, _ = resident_place(ctx)
    node = await NodeService(session).get_for(ctx.actor, node_id, Permission("passes", "create"))
    at = now()
    _check(body, at)
    row = Pass(
        tenant_id=ctx.app.id,
        node_id=node.id,
        node_path=node.node_path,
        service_code=body.service,
        kind=body.kind,
        issued_by=ctx.actor.id,
        visitor_name=body.visitor_name if body.kind == "visitor" else None,
        plate=body.plate.upper() if body.plate and body.kind == "visitor" else None,
        item=body.item if body.kind == "item" else None,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        uses_allowed=body.uses,
        uses_left=body.uses,
        created_at=at,
    )
    PassRepository(session).add(row)
    await session.flush()
    await audit.record(
        session,
        actor=ctx.actor,
        action="pass.issue",
        object_type="pass",
        object_id=row.id,
        node_path=row.node_path,
        after=_snapshot(row),
    )
    return pass_out(row, await signed_token(session, row=row, tenant_path=ctx.app.node_path))


async def my_passes(session: AsyncSession, *, ctx: AppContext, before_id: int | None, limit: int) -> list[PassOut]:
    rows = await PassRepository(session).list(
        within_path=None, issued_by=ctx.actor.id, before_id=before_id, limit=limit
    )
    return [pass_out(r, await signed_token(session, row=r, tenant_path=ctx.app.node_path)) for r in rows]


async def _own_pass(session: AsyncSession, ctx: AppContext, pass_id: int) -> Pass:
    row = await PassRepository(session).get(pass_id, for_update=True)
    if row is None or row.issued_by != ctx.actor.id or row.tenant_id != ctx.app.id:
        raise NotFound("pass")
    return row


async def _shown_pass(session: AsyncSession, ctx: AppContext, pass_id: int, staff: Permission) -> tuple[Pass, bool]:
    """A pass of this app: the caller's own (True), or one staff in reach may see with `staff` (False)."""
    row = await PassRepository(session).get(pass_id)
    if row is None or row.tenant_id != ctx.app.id:
        raise NotFound("pass")
    if row.issued_by == ctx.actor.id:
        return row, True
    if ctx.inside(row.node_path) and acts_as_staff(ctx.actor, staff, row.node_path):
        return await access_object(session, ctx.actor, row, permission=staff, what="pass"), False
    raise NotFound("pass")


async def my_pass(session: AsyncSession, *, ctx: AppContext, pass_id: int) -> PassOut:
    """One of the caller's passes with its QR payload; staff looking at the app read it without."""
    row, own = await _shown_pass(session, ctx, pass_id, PASSES_READ)
    return pass_out(row, await signed_token(session, row=row, tenant_path=ctx.app.node_path) if own else None)


async def my_pass_qr(session: AsyncSession, *, ctx: AppContext, pass_id: int) -> str:
    """The pass's signed payload as an SVG QR code, for the gate to scan off the resident's phone; staff who
    verify passes there may draw it too (to print it for a resident without a phone)."""
    row, _ = await _shown_pass(session, ctx, pass_id, PASSES_VERIFY)
    return qr_svg(await signed_token(session, row=row, tenant_path=ctx.app.node_path), title=f"#{row.id}")


async def revoke_own(session: AsyncSession, *, ctx: AppContext, pass_id: int) -> PassOut:
    row = await _own_pass(session, ctx, pass_id)
    return pass_out(await _revoke(session, ctx.actor, row))


# Staff and gates ------------------------------------------------------------------------------------


async def list_passes(
    session: AsyncSession, *, actor: Principal, node_id: int | None, before_id: int | None, limit: int
) -> list[PassOut]:
    """Staff see the passes in their reach; a resident only their own."""
    within = await NodeService(session).path_filter(node_id)
    issued_by = None if acts_as_staff(actor, PASSES_READ) else actor.id
    rows = await PassRepository(session).list(within_path=within, issued_by=issued_by, before_id=before_id, limit=limit)
    return [pass_out(r) for r in rows]


async def revoke_pass(session: AsyncSession, *, actor: Principal, pass_id: int) -> PassOut:
    row = await access_object(
        session,
        actor,
        await PassRepository(session).get(pass_id, for_update=True),
        permission=PASSES_REVOKE,
        what="pass",
    )
    if row.issued_by != actor.id and not acts_as_staff(actor, PASSES_REVOKE, row.node_path):
        raise NotFound("pass")
    return pass_out(await _revoke(session, actor, row))


async def _revoke(session: AsyncSession, actor: Principal, row: Pass) -> Pass:
    if row.revoked_at is not None:
        raise Conflict("the pass is already revoked", code="pass_revoked")
    before = _snapshot(row)
    row.revoked_at, row.revoked_by = now(), actor.id
    await audit.record(
        session,
        actor=actor,
        action="pass.revoke",
        object_type="pass",
        object_id=row.id,
        node_path=row.node_path,
        before=before,
        after=_snapshot(row),
    )
    return row


async def gate_tenant(session: AsyncSession, *, actor: Principal, node_id: int) -> TenantRef:
    """The tenant of a gate's node, for a caller who may verify passes there."""
    node = await NodeService(session).get_for(actor, node_id, PASSES_VERIFY)
    chain = await tenant_chain(session, node.node_path)
    if not chain:
        raise BadRequest("the node lies in no tenant", code="no_tenant")
    return chain[-1]


async def gate_key(session: AsyncSession, *, actor: Principal, node_id: int) -> tuple[int, str]:
    tenant = await gate_tenant(session, actor=actor, node_id=node_id)
    row = await keys.tenant_key(session, tenant_id=tenant.id, tenant_path=tenant.node_path)
    return tenant.id, token.b64(row.public_key)


async def revocations(session: AsyncSession, *, actor: Principal, node_id: int) -> tuple[int, list[int], datetime]:
    tenant = await gate_tenant(session, actor=actor, node_id=node_id)
    at = now()
    return tenant.id, list(await PassRepository(session).refused_ids(tenant_id=tenant.id, at=at)), at


async def _scanned(
    session: AsyncSession, actor: Principal, node_id: int, scanned: str
) -> tuple[Pass | None, str | None]:
    """The pass a token names and why the gate refuses it (None: it passes)."""
    tenant = await gate_tenant(session, actor=actor, node_id=node_id)
    key = await keys.tenant_key(session, tenant_id=tenant.id, tenant_path=tenant.node_path)
    claims = token.read(keys.public_key(key), scanned)
    at = now()
    reason = token.refusal(claims, tenant_id=tenant.id, revoked=set(), at=at)
    if reason is not None or claims is None:
        return None, reason
    row = await PassRepository(session).get(claims.pass_id)
    if row is None:
        return None, "unknown_pass"
    await access_object(session, actor, row, permission=PASSES_READ, what="pass")
    if row.revoked_at is not None:
        return row, "revoked"
    if row.uses_left == 0:
        return row, "used_up"
    return row, None


async def check_pass(session: AsyncSession, *, actor: Principal, node_id: int, scanned: str) -> GateCheck:
    """What the gate decides online, without recording a passage."""
    row, reason = await _scanned(session, actor, node_id, scanned)
    return GateCheck(ok=reason is None, reason=reason, **{"pass": pass_out(row) if row is not None else None})


async def record_passage(
    session: AsyncSession, *, actor: Principal, node_id: int, scanned: str, gate: str | None
) -> tuple[PassPassage, Pass]:
    """Let the pass through once: 400 `pass_<reason>` when the gate must refuse it."""
    row, reason = await _scanned(session, actor, node_id, scanned)
    if reason is not None or row is None:
        raise refused(reason or "unknown_pass")
    await access_object(session, actor, row, permission=PASSES_VERIFY, what="pass")
    at = now()
    used = await PassRepository(session).use_one(row.id, at=at)
    if used is None:  # a concurrent passage took the last use, or it was revoked meanwhile
        raise refused("used_up")
    passage = PassPassage(pass_id=used.id, node_path=used.node_path, gate=gate, recorded_by=actor.id, at=at)
    PassRepository(session).add(passage)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="pass.passage",
        object_type="pass",
        object_id=used.id,
        node_path=used.node_path,
        after={"gate": gate, "uses_left": used.uses_left, "passage_id": passage.id},
    )
    return passage, used
