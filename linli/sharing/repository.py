"""Every query of shared items and their loans; row-level security scopes them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.sharing.models import ShareItem, ShareLoan


class ShareRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: ShareItem | ShareLoan) -> None:
        self.session.add(row)

    async def item(self, item_id: int, *, for_update: bool = False) -> ShareItem | None:
        stmt = select(ShareItem).where(ShareItem.id == item_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def loan(self, loan_id: int, *, for_update: bool = False) -> ShareLoan | None:
        stmt = select(ShareLoan).where(ShareLoan.id == loan_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def items(
        self,
        *,
        tenant_id: int | None,
        within_path: str | None,
        above_any: Sequence[str] | None,
        service: str | None,
        kind: str | None,
        include_closed: bool,
        before_id: int | None,
        limit: int,
    ) -> Sequence[ShareItem]:
        """Newest first; `above_any` keeps items at or above one of the paths (a resident's estates)."""
        stmt = select(ShareItem).order_by(ShareItem.id.desc()).limit(limit)
        if tenant_id is not None:
            stmt = stmt.where(ShareItem.tenant_id == tenant_id)
        if within_path is not None:
            stmt = stmt.where(ShareItem.node_path.op("<@")(within_path))
        if above_any is not None:
            stmt = stmt.where(or_(false(), *(ShareItem.node_path.op("@>")(func.text2ltree(p)) for p in above_any)))
        if service is not None:
            stmt = stmt.where(ShareItem.service_code == service)
        if kind is not None:
            stmt = stmt.where(ShareItem.kind == kind)
        if not include_closed:
            stmt = stmt.where(ShareItem.status != "closed")
        if before_id is not None:
            stmt = stmt.where(ShareItem.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def loans(
        self,
        *,
        within_path: str | None,
        party: uuid.UUID | None,
        overdue_at: datetime | None,
        before_id: int | None,
        limit: int,
    ) -> Sequence[tuple[ShareLoan, ShareItem]]:
        """Newest first with their items; `party` keeps the loans someone borrows or lends, `overdue_at`
        those still out past their due date."""
        stmt = select(ShareLoan, ShareItem).join(ShareItem, ShareItem.id == ShareLoan.item_id)
        if within_path is not None:
            stmt = stmt.where(ShareLoan.node_path.op("<@")(within_path))
        if party is not None:
            stmt = stmt.where(or_(ShareLoan.borrower_id == party, ShareItem.owner_id == party))
        if overdue_at is not None:
            stmt = stmt.where(ShareLoan.status == "lent", ShareLoan.due_at < overdue_at)
        if before_id is not None:
            stmt = stmt.where(ShareLoan.id < before_id)
        rows = await self.session.execute(stmt.order_by(ShareLoan.id.desc()).limit(limit))
        return [(loan, item) for loan, item in rows.all()]

    async def unreminded_overdue(self, at: datetime, limit: int) -> Sequence[tuple[ShareLoan, ShareItem]]:
        stmt = (
            select(ShareLoan, ShareItem)
            .join(ShareItem, ShareItem.id == ShareLoan.item_id)
            .where(ShareLoan.status == "lent", ShareLoan.due_at < at, ShareLoan.reminded_at.is_(None))
            .order_by(ShareLoan.id)
            .limit(limit)
            .with_for_update(of=ShareLoan, skip_locked=True)
        )
        return [(loan, item) for loan, item in (await self.session.execute(stmt)).all()]
