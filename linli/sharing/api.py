"""Sharing: `/api/v1/app/{slug}/share-{items,loans}` for residents, `/api/v1/share-{items,loans}` for staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from linli.platform.access import DbSession
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.residentapp.context import app_context
from linli.services.api import Slug
from linli.sharing import service
from linli.sharing.models import ShareItem, ShareLoan
from linli.sharing.permissions import SharingBorrow, SharingCreate, SharingRead, SharingUpdate
from linli.sharing.schemas import ItemCreate, ItemKind, ItemOut, Lend, LoanAsk, LoanOut, StaffItemCreate

app_router = APIRouter(prefix="/api/v1/app/{slug}", tags=["sharing"])
router = APIRouter(prefix="/api/v1", tags=["sharing"])
ServiceCode = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["prop_tool_box"])]


def _loans(rows: list[tuple[ShareLoan, ShareItem]], limit: int) -> Page[LoanOut]:
    items = [service.loan_out(loan, item) for loan, item in rows]
    return Page(items=items, next_cursor=next_cursor(items, limit))


@app_router.get("/share-items", operation_id="list_app_share_items")
async def list_app_share_items(
    slug: Slug,
    session: DbSession,
    principal: SharingRead,
    service_code: Annotated[ServiceCode, Query(alias="service")] = None,
    kind: ItemKind | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ItemOut]:
    """Items at the caller's estate and above it (the community's tool box), newest first."""
    ctx = await app_context(session, slug=slug, actor=principal)
    rows = await service.app_items(
        session, ctx=ctx, service=service_code, kind=kind, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=rows, next_cursor=next_cursor(rows, limit))


@app_router.post("/share-items", status_code=201, operation_id="offer_share_item")
async def offer_share_item(slug: Slug, body: ItemCreate, session: DbSession, principal: SharingCreate) -> ItemOut:
    """Offer an item, ask for one, or report something lost or found (at the caller's estate)."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return service.item_out(await service.offer_item(session, ctx=ctx, body=body), principal)


@app_router.post("/share-items/{item_id}/close", operation_id="close_my_share_item")
async def close_my_share_item(slug: Slug, item_id: Id, session: DbSession, principal: SharingUpdate) -> ItemOut:
    ctx = await app_context(session, slug=slug, actor=principal)
    return service.item_out(await service.close_item(session, actor=principal, item_id=item_id, ctx=ctx), principal)


@app_router.post("/share-items/{item_id}/loans", status_code=201, operation_id="request_share_loan")
async def request_share_loan(
    slug: Slug, item_id: Id, session: DbSession, principal: SharingBorrow, body: LoanAsk | None = None
) -> LoanOut:
    """Ask to borrow an offered item (until a date, optionally); its owner lends it with a due date."""
    ctx = await app_context(session, slug=slug, actor=principal)
    until = body.until if body is not None else None
    return service.loan_out(*await service.request_loan(session, ctx=ctx, item_id=item_id, until=until))


@app_router.get("/share-loans", operation_id="list_my_share_loans")
async def list_my_share_loans(
    slug: Slug, session: DbSession, principal: SharingRead, cursor: Cursor = None, limit: Limit = 50
) -> Page[LoanOut]:
    """The loans the caller borrows or lends, newest first."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return _loans(await service.my_loans(session, ctx=ctx, before_id=decode_int_cursor(cursor), limit=limit), limit)


@app_router.post("/share-loans/{loan_id}/lend", operation_id="lend_my_item")
async def lend_my_item(slug: Slug, loan_id: Id, body: Lend, session: DbSession, principal: SharingUpdate) -> LoanOut:
    ctx = await app_context(session, slug=slug, actor=principal)
    return service.loan_out(
        *await service.settle_loan(
            session, actor=principal, loan_id=loan_id, action="lend", due_at=body.due_at, ctx=ctx
        )
    )


@app_router.post("/share-loans/{loan_id}/return", operation_id="take_back_my_item")
async def take_back_my_item(slug: Slug, loan_id: Id, session: DbSession, principal: SharingUpdate) -> LoanOut:
    """The owner has the item back."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return service.loan_out(
        *await service.settle_loan(session, actor=principal, loan_id=loan_id, action="return", ctx=ctx)
    )


@app_router.post("/share-loans/{loan_id}/decline", operation_id="decline_my_loan")
async def decline_my_loan(slug: Slug, loan_id: Id, session: DbSession, principal: SharingUpdate) -> LoanOut:
    """The owner turns a request to borrow down."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return service.loan_out(
        *await service.settle_loan(session, actor=principal, loan_id=loan_id, action="decline", ctx=ctx)
    )


@router.get("/share-items", operation_id="list_share_items")
async def list_share_items(
    session: DbSession,
    principal: SharingRead,
    node_id: Id | None = None,
    service_code: Annotated[ServiceCode, Query(alias="service")] = None,
    kind: ItemKind | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ItemOut]:
    rows = await service.list_items(
        session, node_id=node_id, service=service_code, kind=kind, before_id=decode_int_cursor(cursor), limit=limit
    )
    return Page(items=[service.item_out(i) for i in rows], next_cursor=next_cursor(rows, limit))


@router.post("/share-items", status_code=201, operation_id="keep_share_item")
async def keep_share_item(body: StaffItemCreate, session: DbSession, principal: SharingCreate) -> ItemOut:
    """An item staff keep for lending (the tool box) or hold as found, at a node of theirs."""
    return service.item_out(await service.keep_item(session, actor=principal, node_id=body.node_id, body=body))


@router.post("/share-items/{item_id}/close", operation_id="close_share_item")
async def close_share_item(item_id: Id, session: DbSession, principal: SharingUpdate) -> ItemOut:
    return service.item_out(await service.close_item(session, actor=principal, item_id=item_id))


@router.get("/share-loans", operation_id="list_share_loans")
async def list_share_loans(
    session: DbSession,
    principal: SharingRead,
    node_id: Id | None = None,
    overdue: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LoanOut]:
    """Loans in reach, newest first; `overdue` keeps those still out past their due date."""
    rows = await service.list_loans(
        session, node_id=node_id, overdue=overdue, before_id=decode_int_cursor(cursor), limit=limit
    )
    return _loans(rows, limit)


@router.post("/share-loans/{loan_id}/lend", operation_id="lend_share_item")
async def lend_share_item(loan_id: Id, body: Lend, session: DbSession, principal: SharingUpdate) -> LoanOut:
    return service.loan_out(
        *await service.settle_loan(session, actor=principal, loan_id=loan_id, action="lend", due_at=body.due_at)
    )


@router.post("/share-loans/{loan_id}/return", operation_id="return_share_loan")
async def return_share_loan(loan_id: Id, session: DbSession, principal: SharingUpdate) -> LoanOut:
    return service.loan_out(*await service.settle_loan(session, actor=principal, loan_id=loan_id, action="return"))


@router.post("/share-loans/{loan_id}/decline", operation_id="decline_share_loan")
async def decline_share_loan(loan_id: Id, session: DbSession, principal: SharingUpdate) -> LoanOut:
    return service.loan_out(*await service.settle_loan(session, actor=principal, loan_id=loan_id, action="decline"))
