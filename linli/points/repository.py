"""Every query of the points ledger (RLS scopes them; the service reads the tenant's pool, rules and
catalogue inside the tenant's own scope)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli.points.models import PointsAccount, PointsEntry, PointsMovement, PointsReward, PointsRule


class PointsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def account(self, *, tenant_id: int, user_id: uuid.UUID | None, node_path: str) -> PointsAccount:
        """The resident's account (None: the pool), opened on first use."""
        kind = "pool" if user_id is None else "resident"
        statement = insert(PointsAccount).values(tenant_id=tenant_id, node_path=node_path, kind=kind, user_id=user_id)
        if user_id is None:
            statement = statement.on_conflict_do_nothing(
                index_elements=["tenant_id"], index_where=text("kind = 'pool'")
            )
        else:
            statement = statement.on_conflict_do_nothing(constraint="uq_points_accounts_tenant_user")
        await self.session.execute(statement)
        found = await self.session.scalar(
            select(PointsAccount).where(
                PointsAccount.tenant_id == tenant_id,
                PointsAccount.kind == kind,
                PointsAccount.user_id == user_id if user_id is not None else PointsAccount.user_id.is_(None),
            )
        )
        assert found is not None
        return found

    async def find_account(self, *, tenant_id: int | None, user_id: uuid.UUID) -> PointsAccount | None:
        """The resident's account in the tenant (None: the first visible under the session's scope)."""
        query = select(PointsAccount).where(PointsAccount.user_id == user_id)
        if tenant_id is not None:
            query = query.where(PointsAccount.tenant_id == tenant_id)
        return await self.session.scalar(query.order_by(PointsAccount.id).limit(1))

    async def add_movement(self, movement: PointsMovement) -> bool:
        """False when the movement's reference was paid before (an earning rule pays it once)."""
        values = {
            c.key: getattr(movement, c.key)
            for c in PointsMovement.__table__.columns
            if c.key not in ("id", "created_at")
        }
        row = await self.session.execute(
            insert(PointsMovement)
            .values(**values)
            .on_conflict_do_nothing(constraint="uq_points_movements_reference")
            .returning(PointsMovement.id, PointsMovement.created_at)
        )
        inserted = row.first()
        if inserted is None:
            return False
        movement.id, movement.created_at = inserted
        return True

    async def change_balance(self, account_id: int, amount: int) -> int | None:
        """Add `amount` under the account's row lock; None when that would take it below zero (the
        condition is evaluated again after waiting for a concurrent movement's lock)."""
        return await self.session.scalar(
            update(PointsAccount)
            .where(PointsAccount.id == account_id, PointsAccount.balance + amount >= 0)
            .values(balance=PointsAccount.balance + amount)
            .returning(PointsAccount.balance)
        )

    def add_entries(self, entries: Sequence[PointsEntry]) -> None:
        self.session.add_all(entries)

    async def movements(self, account_id: int, *, before_id: int | None, limit: int) -> Sequence[PointsMovement]:
        query = select(PointsMovement).where(PointsMovement.account_id == account_id)
        if before_id is not None:
            query = query.where(PointsMovement.id < before_id)
        return (await self.session.scalars(query.order_by(PointsMovement.id.desc()).limit(limit))).all()

    async def rules(self, tenant_id: int | None) -> Sequence[PointsRule]:
        """A tenant's earning rules (None: every tenant's under the session's scope)."""
        query = select(PointsRule)
        if tenant_id is not None:
            query = query.where(PointsRule.tenant_id == tenant_id)
        return (await self.session.scalars(query.order_by(PointsRule.tenant_id, PointsRule.rule))).all()

    async def put_rule(self, *, tenant_id: int, node_path: str, rule: str, points: int) -> None:
        await self.session.execute(
            insert(PointsRule)
            .values(tenant_id=tenant_id, node_path=node_path, rule=rule, points=points)
            .on_conflict_do_update(
                constraint="uq_points_rules_tenant_rule", set_={"points": points, "updated_at": text("now()")}
            )
        )

    async def rewards(self, tenant_id: int | None, *, active_only: bool) -> Sequence[PointsReward]:
        """A tenant's catalogue (None: every tenant's under the session's scope), cheapest first."""
        query = select(PointsReward)
        if tenant_id is not None:
            query = query.where(PointsReward.tenant_id == tenant_id)
        if active_only:
            query = query.where(PointsReward.active.is_(True))
        return (await self.session.scalars(query.order_by(PointsReward.cost, PointsReward.id))).all()

    async def reward(self, reward_id: int) -> PointsReward | None:
        return await self.session.get(PointsReward, reward_id)

    async def take_stock(self, reward_id: int) -> bool:
        """One item of a reward out of stock (unlimited rewards always have one)."""
        taken = await self.session.scalar(
            update(PointsReward)
            .where(PointsReward.id == reward_id, PointsReward.active.is_(True))
            .where((PointsReward.stock.is_(None)) | (PointsReward.stock > 0))
            .values(stock=PointsReward.stock - 1)
            .returning(PointsReward.id)
        )
        return taken is not None

    def add(self, row: PointsReward) -> None:
        self.session.add(row)
