"""Sharing: residents and staff put items up (offered, asked for, lost, found); residents ask to borrow
an offered item, its owner (or staff) lends it with a due date and takes it back; a job reminds
borrowers once when a loan is overdue. Never commits.

Residents act in the tenant's scope (a community's tool box lies above their estate), on the items at or
above their places and on their own items and loans only."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import notifications
from linli.platform import audit
from linli.platform.access import Principal, access_object, tenant_chain
from linli.platform.db import within_scopes
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.residentapp.context import AppContext, acts_as_staff
from linli.services.service import tenant_app
from linli.sharing.models import ShareItem, ShareLoan
from linli.sharing.permissions import SHARING_CREATE, SHARING_UPDATE
from linli.sharing.repository import ShareRepository
from linli.sharing.schemas import ItemCreate, ItemOut, LoanOut
from linli.tenants.service import now

REMINDER_BATCH = 200


def item_out(item: ShareItem, actor: Principal | None = None) -> ItemOut:
    return ItemOut(
        id=item.id,
        tenant_id=item.tenant_id,
        node_id=item.node_id,
        node_path=item.node_path,
        service=item.service_code,
        kind=item.kind,
        title=item.title,
        description=item.description,
        owner_id=item.owner_id,
        mine=None if actor is None else item.owner_id == actor.id,
        status=item.status,
        created_at=item.created_at,
    )


def loan_out(loan: ShareLoan, item: ShareItem) -> LoanOut:
    return LoanOut(
        id=loan.id,
        item_id=item.id,
        item_title=item.title,
        borrower_id=loan.borrower_id,
        owner_id=item.owner_id,
        status=loan.status,
        lent_at=loan.lent_at,
        due_at=loan.due_at,
        returned_at=loan.returned_at,
        reminded_at=loan.reminded_at,
        overdue=loan.status == "lent" and loan.due_at is not None and loan.due_at < now(),
        created_at=loan.created_at,
    )


def _loan_snapshot(loan: ShareLoan) -> dict[str, Any]:
    return {"status": loan.status, "item_id": loan.item_id, "due_at": loan.due_at, "returned_at": loan.returned_at}


def _app_scope(session: AsyncSession, ctx: AppContext | None) -> contextlib.AbstractAsyncContextManager[Any]:
    return within_scopes(session, [ctx.app.node_path]) if ctx is not None else contextlib.nullcontext()


async def _add_item(
    session: AsyncSession, *, actor: Principal, tenant_id: int, node_id: int, node_path: str, body: ItemCreate
) -> ShareItem:
    item = ShareItem(
        tenant_id=tenant_id,
        node_id=node_id,
        node_path=node_path,
        service_code=body.service,
        kind=body.kind,
        title=body.title,
        description=body.description,
        owner_id=actor.id,
        status="open",
        created_at=now(),
    )
    ShareRepository(session).add(item)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="share_item.create",
        object_type="share_item",
        object_id=item.id,
        node_path=item.node_path,
        after={"kind": item.kind, "service": item.service_code, "title": item.title},
    )
    return item


async def offer_item(session: AsyncSession, *, ctx: AppContext, body: ItemCreate) -> ShareItem:
    """A resident's item, at their estate."""
    ctx.app.service(body.service, kind="share")
    place = next((g for g in sorted(ctx.actor.grants, key=lambda g: g.node_path) if g.role == "resident"), None)
    if place is None or not ctx.inside(place.node_path):
        raise NotFound("resident place", code="not_a_resident")
    node = await NodeService(session).get_for(ctx.actor, place.node_id, SHARING_CREATE)
    return await _add_item(
        session, actor=ctx.actor, tenant_id=ctx.app.id, node_id=node.id, node_path=node.node_path, body=body
    )


async def keep_item(session: AsyncSession, *, actor: Principal, node_id: int, body: ItemCreate) -> ShareItem:
    """Staff's item (the tool box's), kept at a node of theirs."""
    node = await NodeService(session).get_for(actor, node_id, SHARING_CREATE)
    chain = await tenant_chain(session, node.node_path)
    if not chain:
        raise BadRequest("the node lies in no tenant", code="no_tenant")
    (await tenant_app(session, slug=chain[-1].slug)).check_kind(body.service, "share")
    return await _add_item(
        session, actor=actor, tenant_id=chain[-1].id, node_id=node.id, node_path=node.node_path, body=body
    )


async def app_items(
    session: AsyncSession, *, ctx: AppContext, service: str | None, kind: str | None, before_id: int | None, limit: int
) -> list[ItemOut]:
    """Items at or above the caller's places, of the app's switched-on share services."""
    enabled = {s.code for s in ctx.app.services() if s.kind == "share"}
    if service is not None:
        ctx.app.service(service, kind="share")
    async with within_scopes(session, [ctx.app.node_path]):
        rows = await ShareRepository(session).items(
            tenant_id=ctx.app.id,
            within_path=None,
            above_any=ctx.paths,
            service=service,
            kind=kind,
            include_closed=False,
            before_id=before_id,
            limit=limit,
        )
    return [item_out(i, ctx.actor) for i in rows if i.service_code in enabled]


async def list_items(
    session: AsyncSession,
    *,
    node_id: int | None,
    service: str | None,
    kind: str | None,
    before_id: int | None,
    limit: int,
) -> list[ShareItem]:
    within = await NodeService(session).path_filter(node_id)
    rows = await ShareRepository(session).items(
        tenant_id=None,
        within_path=within,
        above_any=None,
        service=service,
        kind=kind,
        include_closed=True,
        before_id=before_id,
        limit=limit,
    )
    return list(rows)


async def request_loan(
    session: AsyncSession, *, ctx: AppContext, item_id: int, until: datetime | None = None
) -> tuple[ShareLoan, ShareItem]:
    """Ask to borrow an offered item that is not the caller's own, until a date if they say (kept as the
    loan's due date while it is asked for; the owner sets the real one when lending)."""
    if until is not None and until <= now():
        raise Conflict("the date to bring it back must lie ahead", code="bad_due_date")
    async with within_scopes(session, [ctx.app.node_path]):
        item = await ShareRepository(session).item(item_id)
        if item is None or item.tenant_id != ctx.app.id or not any(p.startswith(item.node_path) for p in ctx.paths):
            raise NotFound("item")
        ctx.app.service(item.service_code, kind="share")
        if item.kind != "offer" or item.status == "closed":
            raise Conflict("only an offered item is borrowed", code="not_lendable")
        if item.owner_id == ctx.actor.id:
            raise Conflict("one's own item is not borrowed", code="own_item")
        loan = ShareLoan(
            item_id=item.id, node_path=item.node_path, borrower_id=ctx.actor.id, status="requested", due_at=until
        )
        loan.created_at = now()
        ShareRepository(session).add(loan)
        await session.flush()
        await audit.record(
            session,
            actor=ctx.actor,
            action="share_loan.request",
            object_type="share_loan",
            object_id=loan.id,
            node_path=loan.node_path,
            after=_loan_snapshot(loan),
        )
    return loan, item


async def my_loans(
    session: AsyncSession, *, ctx: AppContext, before_id: int | None, limit: int
) -> list[tuple[ShareLoan, ShareItem]]:
    """The loans the caller borrows or lends."""
    async with within_scopes(session, [ctx.app.node_path]):
        return list(
            await ShareRepository(session).loans(
                within_path=None, party=ctx.actor.id, overdue_at=None, before_id=before_id, limit=limit
            )
        )


async def list_loans(
    session: AsyncSession, *, node_id: int | None, overdue: bool, before_id: int | None, limit: int
) -> list[tuple[ShareLoan, ShareItem]]:
    within = await NodeService(session).path_filter(node_id)
    return list(
        await ShareRepository(session).loans(
            within_path=within, party=None, overdue_at=now() if overdue else None, before_id=before_id, limit=limit
        )
    )


async def _as_owner_or_staff(
    session: AsyncSession, actor: Principal, item: ShareItem | None, ctx: AppContext | None
) -> ShareItem:
    """The item, for its owner or for staff who may update it there (404 otherwise)."""
    if item is None or (ctx is not None and item.tenant_id != ctx.app.id):
        raise NotFound("item")
    if item.owner_id == actor.id:
        return item
    if ctx is None and acts_as_staff(actor, SHARING_UPDATE, item.node_path):
        return await access_object(session, actor, item, permission=SHARING_UPDATE, what="item")
    raise NotFound("item")


async def settle_loan(
    session: AsyncSession,
    *,
    actor: Principal,
    loan_id: int,
    action: str,
    due_at: datetime | None = None,
    ctx: AppContext | None = None,
) -> tuple[ShareLoan, ShareItem]:
    """`lend` (with a due date), `decline` or `return` a loan: by the item's owner (in the app, `ctx`) or
    by staff."""
    async with _app_scope(session, ctx):
        repo = ShareRepository(session)
        loan = await repo.loan(loan_id, for_update=True)
        if loan is None:
            raise NotFound("loan")
        item = await _as_owner_or_staff(session, actor, await repo.item(loan.item_id, for_update=True), ctx)
        before = _loan_snapshot(loan)
        at = now()
        if action == "lend":
            if loan.status != "requested" or item.status != "open":
                raise Conflict("the item is not free to lend", code="not_lendable")
            if due_at is None or due_at <= at:
                raise BadRequest("the due date must lie ahead", code="bad_due_date")
            loan.status, loan.lent_at, loan.due_at, item.status = "lent", at, due_at, "lent"
        elif action == "decline":
            if loan.status != "requested":
                raise Conflict("only a request is declined", code="loan_not_requested")
            loan.status = "declined"
        else:
            if loan.status != "lent":
                raise Conflict("only a lent item comes back", code="loan_not_lent")
            loan.status, loan.returned_at, item.status = "returned", at, "open"
        await audit.record(
            session,
            actor=actor,
            action=f"share_loan.{action}",
            object_type="share_loan",
            object_id=loan.id,
            node_path=loan.node_path,
            before=before,
            after=_loan_snapshot(loan),
        )
    return loan, item


async def close_item(
    session: AsyncSession, *, actor: Principal, item_id: int, ctx: AppContext | None = None
) -> ShareItem:
    """Take an item down (given away, claimed, no longer asked for); a lent one is returned first."""
    async with _app_scope(session, ctx):
        item = await _as_owner_or_staff(
            session, actor, await ShareRepository(session).item(item_id, for_update=True), ctx
        )
        if item.status != "open":
            raise Conflict("only an open item closes (a lent one comes back first)", code="item_not_open")
        item.status = "closed"
        await audit.record(
            session,
            actor=actor,
            action="share_item.close",
            object_type="share_item",
            object_id=item.id,
            node_path=item.node_path,
            after={"status": item.status},
        )
    return item


async def remind_overdue(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Tell each borrower once that a loan is overdue (in the app's inbox). Idempotent: `reminded_at`."""
    at = at or now()
    rows = await ShareRepository(session).unreminded_overdue(at, REMINDER_BATCH)
    for loan, item in rows:
        notifications.notify_in_app(
            session,
            node_path=loan.node_path,
            recipient_id=loan.borrower_id,
            kind="share_overdue",
            title=f"借用已逾期 / Loan overdue: {item.title}",
            body="请尽快归还借用的物品。/ Please return the item you borrowed.",
            payload={"loan_id": loan.id, "item_id": item.id},
            at=at,
        )
        loan.reminded_at = at
        await audit.record(
            session,
            actor=None,
            action="share_loan.remind",
            object_type="share_loan",
            object_id=loan.id,
            node_path=loan.node_path,
            after={"reminded_at": at},
        )
    return len(rows)
