"""Passes: `/api/v1/app/{slug}/passes` for residents, `/api/v1/passes` for staff and gates."""

from __future__ import annotations

from fastapi import APIRouter, Response

from linli.passes import service
from linli.passes.permissions import PassesCreate, PassesRead, PassesRevoke, PassesVerify
from linli.passes.schemas import GateCheck, GateKey, GateScan, PassageOut, PassCreate, PassOut, Revocations
from linli.platform.access import DbSession
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.platform.qr import SVG, SVG_RESPONSE
from linli.residentapp.context import app_context
from linli.services.api import Slug

app_router = APIRouter(prefix="/api/v1/app/{slug}/passes", tags=["passes"])
router = APIRouter(prefix="/api/v1/passes", tags=["passes"])


@app_router.post("", status_code=201, operation_id="issue_pass")
async def issue_pass(slug: Slug, body: PassCreate, session: DbSession, principal: PassesCreate) -> PassOut:
    """A visitor's pass (name, plate) or a large item's (the item and the moving time) for a window and a
    number of uses; `token` is the QR code's payload, signed with the tenant's Ed25519 key."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return await service.issue_pass(session, ctx=ctx, body=body)


@app_router.get("", operation_id="list_my_passes")
async def list_my_passes(
    slug: Slug, session: DbSession, principal: PassesRead, cursor: Cursor = None, limit: Limit = 50
) -> Page[PassOut]:
    """The passes the caller issued here, newest first, each with its QR payload."""
    ctx = await app_context(session, slug=slug, actor=principal)
    rows = await service.my_passes(session, ctx=ctx, before_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=rows, next_cursor=next_cursor(rows, limit))


@app_router.get("/{pass_id}", operation_id="get_my_pass")
async def get_my_pass(slug: Slug, pass_id: Id, session: DbSession, principal: PassesRead) -> PassOut:
    """One of the caller's passes, with its QR payload."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return await service.my_pass(session, ctx=ctx, pass_id=pass_id)


@app_router.get("/{pass_id}/qr.svg", operation_id="my_pass_qr", response_class=Response, responses=SVG_RESPONSE)
async def my_pass_qr(slug: Slug, pass_id: Id, session: DbSession, principal: PassesRead) -> Response:
    """The pass's QR code (its signed payload), to show at the gate."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return Response(await service.my_pass_qr(session, ctx=ctx, pass_id=pass_id), media_type=SVG)


@app_router.post("/{pass_id}/revoke", operation_id="revoke_my_pass")
async def revoke_my_pass(slug: Slug, pass_id: Id, session: DbSession, principal: PassesRevoke) -> PassOut:
    ctx = await app_context(session, slug=slug, actor=principal)
    return await service.revoke_own(session, ctx=ctx, pass_id=pass_id)


@router.get("", operation_id="list_passes")
async def list_passes(
    session: DbSession, principal: PassesRead, node_id: Id | None = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[PassOut]:
    rows = await service.list_passes(
        session, actor=principal, node_id=node_id, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=rows, next_cursor=next_cursor(rows, limit))


@router.post("/{pass_id}/revoke", operation_id="revoke_pass")
async def revoke_pass(pass_id: Id, session: DbSession, principal: PassesRevoke) -> PassOut:
    return await service.revoke_pass(session, actor=principal, pass_id=pass_id)


@router.get("/gate/{node_id}/key", operation_id="get_gate_key")
async def get_gate_key(node_id: Id, session: DbSession, principal: PassesVerify) -> GateKey:
    """The tenant's public key, for a gate to cache and verify passes offline."""
    tenant_id, public_key = await service.gate_key(session, actor=principal, node_id=node_id)
    return GateKey(tenant_id=tenant_id, public_key=public_key)


@router.get("/gate/{node_id}/revocations", operation_id="get_gate_revocations")
async def get_gate_revocations(node_id: Id, session: DbSession, principal: PassesVerify) -> Revocations:
    """The passes still in their window that gates refuse (revoked or used up); refetch when online."""
    tenant_id, ids, at = await service.revocations(session, actor=principal, node_id=node_id)
    return Revocations(tenant_id=tenant_id, pass_ids=ids, as_of=at)


@router.post("/gate/check", operation_id="check_pass")
async def check_pass(body: GateScan, session: DbSession, principal: PassesRead) -> GateCheck:
    """The online verdict on a scanned payload, without recording a passage (it only reads: the caller
    must still be allowed to verify passes at the gate's node)."""
    return await service.check_pass(session, actor=principal, node_id=body.node_id, scanned=body.token)


@router.post("/gate/passages", status_code=201, operation_id="record_passage")
async def record_passage(body: GateScan, session: DbSession, principal: PassesVerify) -> PassageOut:
    """Let a pass through once (one use taken); `400 pass_<reason>` when the gate must refuse it."""
    passage, used = await service.record_passage(
        session, actor=principal, node_id=body.node_id, scanned=body.token, gate=body.gate
    )
    return PassageOut(id=passage.id, pass_id=used.id, gate=passage.gate, at=passage.at, uses_left=used.uses_left)
