"""The node tree: create, rename, move (paths rewritten everywhere in one transaction), archive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object
from linli.platform.errors import BadRequest, Conflict
from linli.platform.hierarchy.models import Location, Node, NodeLevel
from linli.platform.hierarchy.repository import LocationRepository, NodeRepository, tables_with_node_path

CHILD_LEVEL = {
    NodeLevel.district: NodeLevel.street,
    NodeLevel.street: NodeLevel.community,
    NodeLevel.community: NodeLevel.grid,
    NodeLevel.grid: NodeLevel.estate,
}


def node_snapshot(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "name_en": node.name_en,
        "code": node.code,
        "node_path": node.node_path,
        "parent_id": node.parent_id,
        "attrs": node.attrs,
    }


class NodeService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = NodeRepository(session)

    async def get_visible(self, node_id: int) -> Node:
        """The node if row-level security shows it to the caller (404 otherwise); for a node the caller
        acts on, `get_for`."""
        return await self.get_for(None, node_id, ("nodes", "read"))

    async def get_for(
        self, principal: Principal | None, node_id: int, permission: Permission | tuple[str, str]
    ) -> Node:
        """The node, for `principal` to do `permission` at (see `access.access_object`)."""
        return await access_object(
            self.session, principal, await self.repo.get(node_id), permission=permission, what="node"
        )

    async def path_filter(self, node_id: int | None) -> str | None:
        """For a list's optional `node_id` filter: the node's path (404 outside the caller's scope)."""
        return None if node_id is None else (await self.get_visible(node_id)).node_path

    async def list(
        self,
        *,
        q: str | None,
        level: str | None,
        parent_id: int | None,
        after_id: int | None,
        limit: int,
        include_archived: bool = False,
    ) -> Sequence[Node]:
        return await self.repo.search(
            q=q,
            level=level,
            parent_id=parent_id,
            after_id=after_id,
            limit=limit,
            include_archived=include_archived,
        )

    async def _next_label(self, parent: Node, level: NodeLevel) -> tuple[str, str]:
        """A label never used under `parent` before, not even by a child that has moved away: a new node
        at a moved node's old path would inherit its audit entries and dead letters. The parent's row
        counts the labels handed out (locked, so concurrent creations wait); the seed labels nodes
        itself, so the children present count too."""
        await self.session.refresh(parent, with_for_update=True)
        siblings = await self.repo.search(parent_id=parent.id, limit=10_000, include_archived=True)
        width = 2 if level in (NodeLevel.grid, NodeLevel.estate) else 3
        used = {int(s.node_path.rsplit(".", 1)[-1][1:]) for s in siblings}
        n = max(used | {parent.last_child_number}) + 1
        parent.last_child_number = n
        return f"{level.prefix}{n:0{width}d}", f"{n:0{width}d}"

    async def create(
        self,
        *,
        actor: Principal | None,
        parent: Node,
        name: str,
        name_en: str | None = None,
        code: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> Node:
        await access_object(self.session, actor, parent, permission=("nodes", "create"), what="node")
        level = CHILD_LEVEL.get(NodeLevel(parent.level))
        if level is None:
            raise BadRequest("an estate has no child nodes; buildings and units are locations", code="no_child_level")
        label, number = await self._next_label(parent, level)
        node = Node(
            parent_id=parent.id,
            level=level.value,
            code=code or f"{parent.code}{label[0]}{number}",
            name=name,
            name_en=name_en,
            node_path=f"{parent.node_path}.{label}",
            attrs=attrs or {},
        )
        if await self.repo.get_by_code(node.code) is not None:
            raise Conflict(f"node code {node.code} is taken", code="node_code_taken")
        try:
            # Codes are unique across all tenants; a clash outside the caller's scope is invisible to
            # the look-up above (RLS) but not to the unique index.
            async with self.session.begin_nested():
                self.repo.add(node)
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"node code {node.code} is taken", code="node_code_taken") from exc
        await audit.record(
            self.session,
            actor=actor,
            action="node.create",
            object_type="node",
            object_id=node.id,
            node_path=node.node_path,
            after=node_snapshot(node),
        )
        return node

    async def update(
        self,
        *,
        actor: Principal,
        node_id: int,
        name: str | None,
        name_en: str | None,
        attrs: dict[str, Any] | None,
    ) -> Node:
        node = await self.get_for(actor, node_id, ("nodes", "update"))
        before = node_snapshot(node)
        if name is not None:
            node.name = name
        if name_en is not None:
            node.name_en = name_en
        if attrs is not None:
            node.attrs = {**node.attrs, **attrs}
        await audit.record(
            self.session,
            actor=actor,
            action="node.update",
            object_type="node",
            object_id=node.id,
            node_path=node.node_path,
            before=before,
            after=node_snapshot(node),
        )
        return node

    async def move(self, *, actor: Principal, node_id: int, new_parent_id: int) -> Node:
        node = await self.get_visible(node_id)
        new_parent = await self.get_visible(new_parent_id)
        for end in (node, new_parent):
            await access_object(self.session, actor, end, permission=("nodes", "move"), what="node")
        if CHILD_LEVEL.get(NodeLevel(new_parent.level)) != NodeLevel(node.level):
            raise BadRequest(f"a {node.level} must move under a node one level up", code="wrong_parent_level")
        if new_parent.node_path == node.node_path or new_parent.node_path.startswith(node.node_path + "."):
            raise BadRequest("a node cannot move below itself", code="move_into_self")
        before = node_snapshot(node)
        old_path = node.node_path
        label, _ = await self._next_label(new_parent, NodeLevel(node.level))
        new_path = f"{new_parent.node_path}.{label}"
        await rewrite_paths(self.session, old_path=old_path, new_path=new_path)
        await self.repo.set_parent(node, new_parent)
        await self.session.refresh(node)
        await audit.record(
            self.session,
            actor=actor,
            action="node.move",
            object_type="node",
            object_id=node.id,
            node_path=node.node_path,
            before=before,
            after=node_snapshot(node),
        )
        return node

    async def archive(self, *, actor: Principal, node_id: int) -> Node:
        node = await self.get_for(actor, node_id, ("nodes", "archive"))
        if node.archived_at is None:
            node.archived_at = datetime.now(UTC)
            await audit.record(
                self.session,
                actor=actor,
                action="node.archive",
                object_type="node",
                object_id=node.id,
                node_path=node.node_path,
            )
        return node

    async def locations_under(self, node_path: str) -> Sequence[Location]:
        """The buildings and units of the estates in a subtree (as far as the caller's scope shows them)."""
        return await LocationRepository(self.session).under(node_path)

    async def location(self, location_id: int) -> Location | None:
        return await LocationRepository(self.session).get(location_id)

    async def ancestors(self, node: Node) -> Sequence[Node]:
        return await self.repo.ancestors(node.node_path)

    async def locations(self, node: Node) -> Sequence[Location]:
        """The buildings and units inside an estate (none at the other levels)."""
        return await LocationRepository(self.session).for_node(node.id)


async def rewrite_paths(session: AsyncSession, *, old_path: str, new_path: str) -> None:
    """Rewrite `old_path` to `new_path` in every tenant-owned table (the audit log keeps history as it was)."""
    repo = NodeRepository(session)
    for table in await tables_with_node_path(session, privilege="UPDATE"):
        if table != "audit_log":
            await repo.rewrite_paths(table, old_path=old_path, new_path=new_path)
