"""Who handles an event: handler units and their members, routing rules, dispatch, and the default
units every tenant gets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.models import HANDLER_KINDS, Event, HandlerUnit, HandlerUnitMember, RoutingRule
from linli.events.notifications import notify, notify_in_app
from linli.events.records import add_timeline
from linli.events.repositories import CatalogRepository, HandlerUnitRepository, Item, Route, RoutingRuleRepository
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.tenants.models import Tenant
from linli.tenants.repository import UserRepository


async def handler_recipients(session: AsyncSession, event: Event) -> list[uuid.UUID]:
    if event.handler_unit_id is None:
        return []
    return await HandlerUnitRepository(session).unit_member_ids(event.handler_unit_id)


async def dispatch(session: AsyncSession, event: Event, item: Item, at: datetime) -> None:
    route = await RoutingRuleRepository(session).route(item=item, node_path=event.node_path)
    if route is None:
        event.status, event.unrouted = "new", True
        event.handler_unit_id = event.handler_name = event.handler_kind = None
        add_timeline(session, event, action="unrouted", actor=None, label="dispatch", at=at, to_status="new")
        return
    from_status = event.status
    event.handler_unit_id, event.handler_name, event.handler_kind = route.handler_unit_id, route.name, route.kind
    event.unrouted = route.unrouted
    event.status = "dispatched"
    event.dispatched_at = at
    add_timeline(
        session,
        event,
        action="dispatched",
        actor=None,
        label="dispatch",
        at=at,
        from_status=from_status,
        to_status="dispatched",
        note=route.name,
        data={"handler_unit_id": route.handler_unit_id, "unrouted": route.unrouted},
    )
    recipients = await handler_recipients(session, event)
    if route.unrouted:
        recipients += await HandlerUnitRepository(session).users_granted_at(route.node_id)
    await notify(
        session,
        event=event,
        kind="dispatched",
        title=f"新事件：{item.name}",
        body=f"{event.description}".strip() or item.name,
        recipients=recipients,
        at=at,
    )


async def notify_community_staff(
    session: AsyncSession,
    *,
    node_path: str,
    kind: str,
    title: str,
    body: str,
    payload: dict[str, Any],
    at: datetime | None = None,
) -> int:
    """An inbox row for each of the community's staff at `node_path`, for what other domains escalate (a
    patrol round left unfinished, an overdue care visit): the members of the community-staff unit routing
    picks there and those granted a staff role at its node, each once. Returns how many were told."""
    route = await RoutingRuleRepository(session).route_to_kind(kind="community_staff", node_path=node_path)
    if route is None:
        return 0
    units = HandlerUnitRepository(session)
    recipients = dict.fromkeys(
        [*await units.unit_member_ids(route.handler_unit_id), *await units.users_granted_at(route.node_id)]
    )
    for recipient in recipients:
        notify_in_app(
            session,
            node_path=node_path,
            recipient_id=recipient,
            kind=kind,
            title=title,
            body=body,
            payload=payload,
            at=at,
        )
    return len(recipients)


async def hand_to_community_staff(session: AsyncSession, event: Event) -> None:
    route = await RoutingRuleRepository(session).route_to_kind(kind="community_staff", node_path=event.node_path)
    if route is not None:
        event.handler_unit_id, event.handler_name, event.handler_kind = route.handler_unit_id, route.name, route.kind


async def list_units(
    session: AsyncSession, *, node_id: int | None, kind: str | None, after_id: int | None, limit: int
) -> Sequence[HandlerUnit]:
    within = await NodeService(session).path_filter(node_id)
    return await HandlerUnitRepository(session).units(within_path=within, kind=kind, after_id=after_id, limit=limit)


async def create_unit(
    session: AsyncSession, *, actor: Principal | None, node_id: int, kind: str, name: str, contact: dict[str, Any]
) -> HandlerUnit:
    node = await NodeService(session).get_for(actor, node_id, Permission("handlers", "create"))
    if kind not in HANDLER_KINDS:
        raise BadRequest(f"unknown handler kind {kind!r}", code="unknown_handler_kind")
    unit = HandlerUnit(node_id=node.id, node_path=node.node_path, kind=kind, name=name, contact=contact, active=True)
    HandlerUnitRepository(session).add(unit)
    try:
        async with session.begin_nested():
            await session.flush()
    except Exception as exc:  # unique (node, kind, name)
        raise Conflict(f"{name} already exists here", code="handler_unit_exists") from exc
    await audit.record(
        session,
        actor=actor,
        action="handler_unit.create",
        object_type="handler_unit",
        object_id=unit.id,
        node_path=node.node_path,
        after={"kind": kind, "name": name},
    )
    return unit


async def update_unit(
    session: AsyncSession,
    *,
    actor: Principal,
    unit_id: int,
    name: str | None,
    contact: dict[str, Any] | None,
    active: bool | None,
) -> HandlerUnit:
    unit = await access_object(
        session,
        actor,
        await HandlerUnitRepository(session).unit(unit_id),
        permission=Permission("handlers", "update"),
        what="handler unit",
    )
    before = {"name": unit.name, "contact": unit.contact, "active": unit.active}
    if name is not None:
        unit.name = name
    if contact is not None:
        unit.contact = contact
    if active is not None:
        unit.active = active
    await audit.record(
        session,
        actor=actor,
        action="handler_unit.update",
        object_type="handler_unit",
        object_id=unit.id,
        node_path=unit.node_path,
        before=before,
        after={"name": unit.name, "contact": unit.contact, "active": unit.active},
    )
    return unit


async def unit_members(session: AsyncSession, *, actor: Principal, unit_id: int) -> list[uuid.UUID]:
    repo = HandlerUnitRepository(session)
    unit = await access_object(
        session, actor, await repo.unit(unit_id), permission=Permission("handlers", "read"), what="handler unit"
    )
    return await repo.unit_member_ids(unit.id)


async def add_member(
    session: AsyncSession, *, actor: Principal | None, unit_id: int, user_id: uuid.UUID
) -> HandlerUnitMember:
    repo = HandlerUnitRepository(session)
    unit = await access_object(
        session, actor, await repo.unit(unit_id), permission=Permission("handlers", "update"), what="handler unit"
    )
    if await UserRepository(session).get(user_id) is None:
        raise NotFound("user")
    existing = await repo.member(unit.id, user_id)
    if existing is not None:
        return existing
    member = HandlerUnitMember(handler_unit_id=unit.id, user_id=user_id, node_path=unit.node_path)
    repo.add(member)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="handler_unit.add_member",
        object_type="handler_unit",
        object_id=unit.id,
        node_path=unit.node_path,
        after={"user_id": str(user_id)},
    )
    return member


async def would_receive(
    session: AsyncSession, *, actor: Principal, item: str, node_id: int
) -> tuple[Route | None, list[uuid.UUID]]:
    """Who an event of `item` at the node would be dispatched to, and its members: the resolution
    `dispatch` itself uses, so the answer cannot disagree with it."""
    node = await NodeService(session).get_for(actor, node_id, Permission("routing", "read"))
    catalog_item = await CatalogRepository(session).item(item)
    if catalog_item is None:
        raise BadRequest(f"unknown event item {item!r}", code="unknown_item")
    route = await RoutingRuleRepository(session).route(item=catalog_item, node_path=node.node_path)
    if route is None:
        return None, []
    return route, await HandlerUnitRepository(session).unit_member_ids(route.handler_unit_id)


async def list_rules(
    session: AsyncSession, *, node_id: int | None, after_id: int | None, limit: int
) -> Sequence[RoutingRule]:
    within = await NodeService(session).path_filter(node_id)
    return await RoutingRuleRepository(session).rules(within_path=within, after_id=after_id, limit=limit)


async def create_rule(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_id: int,
    item: str | None,
    line: str | None,
    handler_unit_id: int,
    priority: int,
) -> RoutingRule:
    node = await NodeService(session).get_for(actor, node_id, Permission("routing", "create"))
    unit = await HandlerUnitRepository(session).unit(handler_unit_id)
    if unit is None:
        raise NotFound("handler unit")
    if item is not None and await CatalogRepository(session).item(item) is None:
        raise BadRequest(f"unknown event item {item!r}", code="unknown_item")
    if line is not None and not await CatalogRepository(session).line_exists(line):
        raise BadRequest(f"unknown event line {line!r}", code="unknown_line")
    rule = RoutingRule(
        node_id=node.id,
        node_path=node.node_path,
        item_code=item,
        line_code=line,
        handler_unit_id=unit.id,
        priority=priority,
    )
    RoutingRuleRepository(session).add(rule)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="routing_rule.create",
        object_type="routing_rule",
        object_id=rule.id,
        node_path=node.node_path,
        after={"item": item, "line": line, "handler_unit_id": unit.id, "priority": priority},
    )
    return rule


async def delete_rule(session: AsyncSession, *, actor: Principal, rule_id: int) -> None:
    repo = RoutingRuleRepository(session)
    rule = await access_object(
        session, actor, await repo.rule(rule_id), permission=Permission("routing", "delete"), what="routing rule"
    )
    await audit.record(
        session,
        actor=actor,
        action="routing_rule.delete",
        object_type="routing_rule",
        object_id=rule.id,
        node_path=rule.node_path,
        before={"item": rule.item_code, "line": rule.line_code, "handler_unit_id": rule.handler_unit_id},
    )
    await repo.delete(rule)


async def ensure_default_units(session: AsyncSession, tenant: Tenant) -> None:
    """Onboarding hook: the tenant's default handler units (idempotent)."""
    await HandlerUnitRepository(session).ensure_defaults(root=tenant.node_path, node_id=tenant.node_id)
