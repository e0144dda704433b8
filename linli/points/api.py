"""Points: the resident's balance, statement and redemptions under `/api/v1/app/{slug}/points/{service}`
(a switched-on `points` service), and the ledger's rules, catalogue and adjustments for staff."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import DbSession, Principal
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.points import service
from linli.points.models import PointsMovement
from linli.points.permissions import PointsManage, PointsRead, PointsRedeem
from linli.points.schemas import (
    AdjustmentIn,
    EarningRuleOut,
    EarningRulesIn,
    RedemptionOut,
    RewardIn,
    RewardOut,
    Statement,
)
from linli.residentapp.context import AppContext, app_context
from linli.services.api import Slug

app_router = APIRouter(prefix="/api/v1/app/{slug}/points/{points_service}", tags=["points"])
router = APIRouter(prefix="/api/v1/points", tags=["points"])


async def _ctx(session: AsyncSession, slug: str, points_service: str, principal: Principal) -> AppContext:
    ctx = await app_context(session, slug=slug, actor=principal)
    ctx.app.service(points_service, kind="points")
    return ctx


def _statement(user_id: uuid.UUID, balance: int, rows: Sequence[PointsMovement], limit: int) -> Statement:
    return Statement(
        user_id=user_id,
        balance=balance,
        items=[service.movement_out(m) for m in rows],
        next_cursor=next_cursor(rows, limit),
    )


@app_router.get("", operation_id="get_my_points")
async def get_my_points(
    slug: Slug, points_service: str, session: DbSession, principal: PointsRead, cursor: Cursor = None, limit: Limit = 50
) -> Statement:
    """The caller's balance and statement, newest movement first."""
    ctx = await _ctx(session, slug, points_service, principal)
    balance, rows = await service.my_statement(session, ctx=ctx, before_id=decode_int_cursor(cursor), limit=limit)
    return _statement(principal.id, balance, rows, limit)


@app_router.get("/rewards", operation_id="list_app_rewards")
async def list_app_rewards(
    slug: Slug, points_service: str, session: DbSession, principal: PointsRead
) -> Page[RewardOut]:
    ctx = await _ctx(session, slug, points_service, principal)
    return Page(
        items=[RewardOut.model_validate(r) for r in await service.catalogue(session, ctx=ctx)], next_cursor=None
    )


@app_router.post("/rewards/{reward_id}/redeem", status_code=201, operation_id="redeem_reward")
async def redeem_reward(
    slug: Slug, points_service: str, reward_id: Id, session: DbSession, principal: PointsRedeem
) -> RedemptionOut:
    """Spend the reward's cost: 409 `insufficient_points` (the balance never goes below zero, also under
    concurrent redemptions) or `out_of_stock`."""
    ctx = await _ctx(session, slug, points_service, principal)
    movement, balance = await service.redeem(session, ctx=ctx, reward_id=reward_id)
    return RedemptionOut(movement=service.movement_out(movement), balance=balance)


@router.get("/rules", operation_id="list_points_rules")
async def list_points_rules(session: DbSession, principal: PointsRead) -> Page[EarningRuleOut]:
    """The earning rules of the tenants under the caller's scope (a rule not listed gives nothing)."""
    return Page(items=await service.rules(session, tenant_id=None), next_cursor=None)


@router.put("/rules", operation_id="put_points_rules")
async def put_points_rules(
    node_id: Id, body: EarningRulesIn, session: DbSession, principal: PointsManage
) -> list[EarningRuleOut]:
    """Set the named rules (the others keep their points)."""
    return await service.put_rules(session, actor=principal, node_id=node_id, rules_in=body.rules)


@router.get("/rewards", operation_id="list_points_rewards")
async def list_points_rewards(session: DbSession, principal: PointsRead) -> Page[RewardOut]:
    return Page(items=[RewardOut.model_validate(r) for r in await service.rewards(session)], next_cursor=None)


@router.post("/rewards", status_code=201, operation_id="create_points_reward")
async def create_points_reward(body: RewardIn, session: DbSession, principal: PointsManage) -> RewardOut:
    reward = await service.create_reward(
        session,
        actor=principal,
        node_id=body.node_id,
        name=body.name,
        name_en=body.name_en,
        cost=body.cost,
        stock=body.stock,
    )
    return RewardOut.model_validate(reward)


@router.post("/rewards/{reward_id}/retire", operation_id="retire_points_reward")
async def retire_points_reward(reward_id: Id, session: DbSession, principal: PointsManage) -> RewardOut:
    return RewardOut.model_validate(await service.retire_reward(session, actor=principal, reward_id=reward_id))


@router.post("/adjustments", status_code=201, operation_id="adjust_points")
async def adjust_points(body: AdjustmentIn, session: DbSession, principal: PointsManage) -> RedemptionOut:
    movement, balance = await service.adjust(
        session, actor=principal, node_id=body.node_id, user_id=body.user_id, amount=body.amount, note=body.note
    )
    return RedemptionOut(movement=service.movement_out(movement), balance=balance)


@router.get("/accounts/{user_id}", operation_id="get_points_statement")
async def get_points_statement(
    user_id: uuid.UUID, session: DbSession, principal: PointsRead, cursor: Cursor = None, limit: Limit = 50
) -> Statement:
    """A resident's balance and statement (their account within the caller's scope)."""
    balance, rows = await service.account_statement(
        session, actor=principal, user_id=user_id, before_id=decode_int_cursor(cursor), limit=limit
    )
    return _statement(user_id, balance, rows, limit)
