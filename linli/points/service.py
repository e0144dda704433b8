"""The points ledger: movements of two entries (the resident's account and the tenant's pool) summing to
zero, earning rules per tenant, the redemption catalogue, statements. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal, TenantRef, access_object, tenant_chain
from linli.platform.db import within_scopes
from linli.platform.errors import Conflict, NotFound
from linli.points.models import PointsEntry, PointsMovement, PointsReward
from linli.points.repository import PointsRepository
from linli.points.schemas import EarningRuleIn, EarningRuleOut, MovementOut
from linli.residentapp.context import AppContext, staff_place

MANAGE = Permission("points", "manage")


async def move(
    session: AsyncSession,
    *,
    actor: Principal | None,
    tenant: tuple[int, str],
    user_id: uuid.UUID,
    resident_path: str,
    kind: str,
    amount: int,
    reason: str,
    reference: str | None = None,
    reward_id: int | None = None,
    note: str | None = None,
) -> tuple[PointsMovement, int] | None:
    """Move `amount` points into (negative: out of) the resident's account from (into) the tenant's pool.
    With the new balance; None when `reference` was paid before; 409 `insufficient_points` when the
    balance would go negative."""
    tenant_id, tenant_path = tenant
    repo = PointsRepository(session)
    # The pool lies at the tenant's path, outside a resident's scope: only its id is needed here.
    async with within_scopes(session, [tenant_path]):
        pool = await repo.account(tenant_id=tenant_id, user_id=None, node_path=tenant_path)
    account = await repo.account(tenant_id=tenant_id, user_id=user_id, node_path=resident_path)
    movement = PointsMovement(
        tenant_id=tenant_id,
        node_path=account.node_path,
        account_id=account.id,
        kind=kind,
        amount=amount,
        reason=reason,
        reference=reference,
        reward_id=reward_id,
        note=note,
        actor_id=actor.id if actor is not None else None,
    )
    if not await repo.add_movement(movement):
        return None
    balance = await repo.change_balance(account.id, amount)
    if balance is None:
        raise Conflict("not enough points", code="insufficient_points")
    repo.add_entries(
        [
            PointsEntry(movement_id=movement.id, account_id=account.id, node_path=account.node_path, amount=amount),
            PointsEntry(movement_id=movement.id, account_id=pool.id, node_path=account.node_path, amount=-amount),
        ]
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=f"points.{kind}",
        object_type="points_movement",
        object_id=movement.id,
        node_path=account.node_path,
        after={"user_id": str(user_id), "amount": amount, "reason": reason, "reference": reference, "balance": balance},
    )
    return movement, balance


async def rule_points(session: AsyncSession, *, tenant: tuple[int, str]) -> dict[str, int]:
    async with within_scopes(session, [tenant[1]]):
        return {r.rule: r.points for r in await PointsRepository(session).rules(tenant[0])}


async def on_checked_in(
    session: AsyncSession,
    *,
    actor: Principal | None,
    tenant: tuple[int, str],
    user_id: uuid.UUID,
    resident_path: str,
    activity_id: int,
    hours: Decimal,
) -> None:
    """Points for an activity check-in and its volunteer hours, as the tenant's rules say (once)."""
    rules = await rule_points(session, tenant=tenant)
    points = rules.get("checkin", 0) + int(hours * rules.get("volunteer_hour", 0))
    if points > 0:
        await move(
            session,
            actor=actor,
            tenant=tenant,
            user_id=user_id,
            resident_path=resident_path,
            kind="earn",
            amount=points,
            reason="checkin",
            reference=f"checkin:{activity_id}:{user_id}",
        )


# The recycling bank's form: its approved drop-offs earn the `recycling_dropoff` rule per kilogram.
RECYCLING_FORM = "prop_garbage_bank"


async def on_form_case_approved(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_path: str,
    service: str,
    applicant_id: uuid.UUID,
    case_id: int,
    values: dict[str, Any],
) -> None:
    """Points for an approved recycling-bank drop-off, as the tenant's rule says (once per case)."""
    weight = values.get("weight_kg")
    if service != RECYCLING_FORM or not isinstance(weight, int | float):
        return
    chain = await tenant_chain(session, node_path)
    tenant = (chain[-1].id, chain[-1].node_path)
    points = int(weight * (await rule_points(session, tenant=tenant)).get("recycling_dropoff", 0))
    if points > 0:
        await move(
            session,
            actor=actor,
            tenant=tenant,
            user_id=applicant_id,
            resident_path=node_path,
            kind="earn",
            amount=points,
            reason="recycling",
            reference=f"form_case:{case_id}",
        )


async def statement(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID, before_id: int | None, limit: int
) -> tuple[int, Sequence[PointsMovement]]:
    """A resident's balance and movements, newest first."""
    repo = PointsRepository(session)
    account = await repo.find_account(tenant_id=tenant_id, user_id=user_id)
    if account is None:
        return 0, []
    return account.balance, await repo.movements(account.id, before_id=before_id, limit=limit)


async def my_statement(
    session: AsyncSession, *, ctx: AppContext, before_id: int | None, limit: int
) -> tuple[int, Sequence[PointsMovement]]:
    return await statement(session, tenant_id=ctx.app.id, user_id=ctx.actor.id, before_id=before_id, limit=limit)


async def catalogue(session: AsyncSession, *, ctx: AppContext) -> Sequence[PointsReward]:
    async with within_scopes(session, [ctx.app.node_path]):
        return await PointsRepository(session).rewards(ctx.app.id, active_only=True)


async def redeem(session: AsyncSession, *, ctx: AppContext, reward_id: int) -> tuple[PointsMovement, int]:
    """Spend a reward's cost; refused (409 `insufficient_points`, `out_of_stock`) without touching anything."""
    resident_path = ctx.resident_path()
    repo = PointsRepository(session)
    async with within_scopes(session, [ctx.app.node_path]):
        reward = await repo.reward(reward_id)
        if reward is None or reward.tenant_id != ctx.app.id or not reward.active:
            raise NotFound("reward")
        cost = reward.cost
        if not await repo.take_stock(reward.id):
            raise Conflict("this reward is out of stock", code="out_of_stock")
    moved = await move(
        session,
        actor=ctx.actor,
        tenant=(ctx.app.id, ctx.app.node_path),
        user_id=ctx.actor.id,
        resident_path=resident_path,
        kind="redeem",
        amount=-cost,
        reason="reward",
        reward_id=reward_id,
    )
    assert moved is not None  # no reference: never a repeat
    return moved


async def tenant_of(
    session: AsyncSession, *, actor: Principal | None, node_id: int, permission: Permission
) -> TenantRef:
    _, tenant = await staff_place(session, actor=actor, node_id=node_id, permission=permission)
    return tenant


async def rules(session: AsyncSession, *, tenant_id: int | None) -> list[EarningRuleOut]:
    """The earning rules of a tenant, or of every tenant under the caller's scope (a rule not listed
    gives nothing)."""
    rows = await PointsRepository(session).rules(tenant_id)
    return [EarningRuleOut(tenant_id=r.tenant_id, rule=r.rule, points=r.points) for r in rows]


async def put_rules(
    session: AsyncSession, *, actor: Principal | None, node_id: int, rules_in: list[EarningRuleIn]
) -> list[EarningRuleOut]:
    tenant = await tenant_of(session, actor=actor, node_id=node_id, permission=MANAGE)
    repo = PointsRepository(session)
    before = await rule_points(session, tenant=(tenant.id, tenant.node_path))
    for rule in rules_in:
        await repo.put_rule(tenant_id=tenant.id, node_path=tenant.node_path, rule=rule.rule, points=rule.points)
    await audit.record(
        session,
        actor=actor,
        action="points.rules",
        object_type="tenant",
        object_id=tenant.id,
        node_path=tenant.node_path,
        before=before,
        after={r.rule: r.points for r in rules_in},
    )
    return await rules(session, tenant_id=tenant.id)


async def rewards(session: AsyncSession) -> Sequence[PointsReward]:
    """The catalogues of the tenants under the caller's scope, retired rewards included."""
    return await PointsRepository(session).rewards(None, active_only=False)


async def create_reward(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_id: int,
    name: str,
    name_en: str,
    cost: int,
    stock: int | None,
) -> PointsReward:
    _, tenant = await staff_place(session, actor=actor, node_id=node_id, permission=MANAGE)
    reward = PointsReward(
        tenant_id=tenant.id, node_path=tenant.node_path, name=name, name_en=name_en, cost=cost, stock=stock, active=True
    )
    PointsRepository(session).add(reward)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="points_reward.create",
        object_type="points_reward",
        object_id=reward.id,
        node_path=reward.node_path,
        after={"name": name, "cost": cost, "stock": stock},
    )
    return reward


async def retire_reward(session: AsyncSession, *, actor: Principal, reward_id: int) -> PointsReward:
    reward = await access_object(
        session, actor, await PointsRepository(session).reward(reward_id), permission=MANAGE, what="reward"
    )
    reward.active = False
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="points_reward.retire",
        object_type="points_reward",
        object_id=reward.id,
        node_path=reward.node_path,
        after={"active": False},
    )
    return reward


async def adjust(
    session: AsyncSession, *, actor: Principal, node_id: int, user_id: uuid.UUID, amount: int, note: str
) -> tuple[PointsMovement, int]:
    """Staff give points (or take them back, never below zero) to a resident of the node's tenant, whose
    account must exist under the caller's scope (it opens with the resident's first earning)."""
    if amount == 0:
        raise Conflict("an adjustment moves some points", code="zero_amount")
    tenant = await tenant_of(session, actor=actor, node_id=node_id, permission=MANAGE)
    account = await PointsRepository(session).find_account(tenant_id=tenant.id, user_id=user_id)
    account = await access_object(session, actor, account, permission=MANAGE, what="points account")
    moved = await move(
        session,
        actor=actor,
        tenant=(tenant.id, tenant.node_path),
        user_id=user_id,
        resident_path=account.node_path,
        kind="adjust",
        amount=amount,
        reason="adjustment",
        note=note,
    )
    assert moved is not None
    return moved


async def account_statement(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID, before_id: int | None, limit: int
) -> tuple[int, Sequence[PointsMovement]]:
    """A resident's statement in the caller's tenant (their one account within the caller's scope)."""
    account = await PointsRepository(session).find_account(tenant_id=None, user_id=user_id)
    account = await access_object(session, actor, account, permission=("points", "read"), what="points account")
    return await statement(session, tenant_id=account.tenant_id, user_id=user_id, before_id=before_id, limit=limit)


def movement_out(movement: PointsMovement) -> MovementOut:
    return MovementOut.model_validate(movement)
