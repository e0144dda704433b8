"""Every query of passes, their passages and the tenants' signing keys; row-level security scopes them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli.passes.models import Pass, PassKey, PassPassage


class PassRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Pass | PassPassage) -> None:
        self.session.add(row)

    async def key(self, tenant_id: int) -> PassKey | None:
        return await self.session.get(PassKey, tenant_id)

    async def add_key_once(self, row: PassKey) -> None:
        """Insert a tenant's key unless another request just did (the first one stays)."""
        values = {"tenant_id": row.tenant_id, "node_path": row.node_path, "public_key": row.public_key}
        stmt = insert(PassKey).values(**values, private_key_enc=row.private_key_enc)
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id"]))

    async def get(self, pass_id: int, *, for_update: bool = False) -> Pass | None:
        stmt = select(Pass).where(Pass.id == pass_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, *, within_path: str | None, issued_by: uuid.UUID | None, before_id: int | None, limit: int
    ) -> Sequence[Pass]:
        stmt = select(Pass).order_by(Pass.id.desc()).limit(limit)
        if within_path is not None:
            stmt = stmt.where(Pass.node_path.op("<@")(within_path))
        if issued_by is not None:
            stmt = stmt.where(Pass.issued_by == issued_by)
        if before_id is not None:
            stmt = stmt.where(Pass.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def refused_ids(self, *, tenant_id: int, at: datetime) -> Sequence[int]:
        """Passes still in their window that a gate must refuse: revoked or used up."""
        stmt = select(Pass.id).where(
            Pass.tenant_id == tenant_id,
            Pass.valid_until > at,
            or_(Pass.revoked_at.is_not(None), Pass.uses_left == 0),
        )
        return (await self.session.execute(stmt.order_by(Pass.id))).scalars().all()

    async def use_one(self, pass_id: int, *, at: datetime) -> Pass | None:
        """Take one use atomically: None when it is revoked, outside its window or used up."""
        stmt = (
            update(Pass)
            .where(
                Pass.id == pass_id,
                Pass.uses_left > 0,
                Pass.revoked_at.is_(None),
                Pass.valid_from <= at,
                Pass.valid_until > at,
            )
            .values(uses_left=Pass.uses_left - 1)
            .returning(Pass)
            .execution_options(synchronize_session="fetch")
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
