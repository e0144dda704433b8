from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from linli.platform.access import DbSession
from linli.platform.hierarchy.models import NodeLevel
from linli.platform.hierarchy.permissions import NodesArchive, NodesCreate, NodesMove, NodesRead, NodesUpdate
from linli.platform.hierarchy.schemas import LocationOut, NodeCreate, NodeMove, NodeOut, NodeUpdate
from linli.platform.hierarchy.service import NodeService
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


@router.get("", operation_id="list_nodes")
async def list_nodes(
    session: DbSession,
    principal: NodesRead,
    q: Annotated[str | None, Query(max_length=100, description="name or code")] = None,
    level: NodeLevel | None = None,
    parent_id: Id | None = None,
    include_archived: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[NodeOut]:
    rows = await NodeService(session).list(
        q=q,
        level=level.value if level else None,
        parent_id=parent_id,
        after_id=decode_int_cursor(cursor),
        limit=limit,
        include_archived=include_archived,
    )
    return Page(items=[NodeOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.get("/{node_id}", operation_id="get_node")
async def get_node(node_id: Id, session: DbSession, principal: NodesRead) -> NodeOut:
    return NodeOut.model_validate(await NodeService(session).get_visible(node_id))


@router.get("/{node_id}/ancestors", operation_id="list_node_ancestors")
async def list_node_ancestors(node_id: Id, session: DbSession, principal: NodesRead) -> Page[NodeOut]:
    service = NodeService(session)
    rows = await service.ancestors(await service.get_visible(node_id))
    return Page(items=[NodeOut.model_validate(r) for r in rows])


@router.get("/{node_id}/locations", operation_id="list_node_locations")
async def list_node_locations(node_id: Id, session: DbSession, principal: NodesRead) -> Page[LocationOut]:
    """The buildings and units of an estate, for picking where something is (one page; empty above the
    estate level)."""
    service = NodeService(session)
    rows = await service.locations(await service.get_visible(node_id))
    return Page(items=[LocationOut.model_validate(r) for r in rows])


@router.post("", status_code=201, operation_id="create_node")
async def create_node(body: NodeCreate, session: DbSession, principal: NodesCreate) -> NodeOut:
    service = NodeService(session)
    parent = await service.get_visible(body.parent_id)
    node = await service.create(
        actor=principal, parent=parent, name=body.name, name_en=body.name_en, code=body.code, attrs=body.attrs
    )
    return NodeOut.model_validate(node)


@router.patch("/{node_id}", operation_id="update_node")
async def update_node(
    node_id: Id,
    body: NodeUpdate,
    session: DbSession,
    principal: NodesUpdate,
) -> NodeOut:
    node = await NodeService(session).update(
        actor=principal, node_id=node_id, name=body.name, name_en=body.name_en, attrs=body.attrs
    )
    return NodeOut.model_validate(node)


@router.post("/{node_id}/move", operation_id="move_node")
async def move_node(
    node_id: Id,
    body: NodeMove,
    session: DbSession,
    principal: NodesMove,
) -> NodeOut:
    node = await NodeService(session).move(actor=principal, node_id=node_id, new_parent_id=body.new_parent_id)
    return NodeOut.model_validate(node)


@router.post("/{node_id}/archive", operation_id="archive_node")
async def archive_node(node_id: Id, session: DbSession, principal: NodesArchive) -> NodeOut:
    return NodeOut.model_validate(await NodeService(session).archive(actor=principal, node_id=node_id))
